"""The web UI in a real browser (the system's Chromium, driven by Playwright): train a digits MLP
through the page's form, watch the job finish, open the model, see its ten modules and their
overlap heatmap, tick three classes, build the composition, upload a PNG, and read the prediction
the /v1 API gives for the same image. The server asks for an API key, so the page must ask too.

Set MODA_UI_SCREENSHOTS to a directory to save the screenshots the README shows."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from tests.live_server import LiveServer, wait_for

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")

API_KEY = "browser-test-key"
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on PATH (apt-get install -y chromium)"),
]
SCREENSHOTS = os.environ.get("MODA_UI_SCREENSHOTS")
# The first train request imports and reads the dataset, and CI machines are busy: wait long enough.
sync_api.expect.set_options(timeout=30_000)


def digit_png(index: int) -> tuple[bytes, int]:
    """A digits test image as an 8-bit PNG (digits are 0..16: scaled to 0..255), and its label."""
    digits = load_digits()
    pixels = np.round(digits.images[index] * (255 / 16)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue(), int(digits.target[index])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"MODA_API_KEY": API_KEY, "MODA_AUTH": "mutations", "MODA_WORKERS": "1"}
    with LiveServer(tmp_path_factory.mktemp("web"), env) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    """A fresh tab at desktop width; the test fails on any script error in the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # The browser logs every 4xx as "Failed to load resource": the page shows those itself.
    expected = "Failed to load resource"
    tab.on("console", lambda m: m.type == "error" and not m.text.startswith(expected) and errors.append(m.text))
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
    assert not errors


# The elements whose right edge passes the window's: what makes a phone scroll sideways.
OVERFLOWING = """[...document.querySelectorAll("main *")]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest(".table-wrap"))
  .map((el) => el.tagName + "." + el.className)"""


def screenshot(page: sync_api.Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def test_train_compose_and_predict_through_the_page(hub: LiveServer, page: sync_api.Page, tmp_path: Path) -> None:
    expect = sync_api.expect
    page.goto(f"{hub.url}/")
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    expect(page.get_by_text("No models yet")).to_be_visible()

    # Train through the form: the server wants its key, so the page asks for it once.
    page.get_by_role("link", name="Jobs", exact=True).click()
    form = page.locator("#train-form")
    form.get_by_label("Epochs").fill("4")
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#key-dialog")).to_be_visible()
    page.locator("#key-input").fill(API_KEY)
    page.locator("#key-ok").click()
    expect(form.get_by_text("queued")).to_be_visible()
    row = page.locator("#jobs tbody tr").first
    expect(row.locator(".status")).to_have_text("succeeded", timeout=180_000)  # followed live, no reload

    # The model: its curves, ten modules, and the 10 × 10 overlap heatmap.
    row.get_by_role("link", name="model").click()
    expect(page.get_by_role("heading", name=re.compile(r"digits-mlp v1"))).to_be_visible()
    expect(page.get_by_text("Loss terms per epoch")).to_be_visible()
    expect(page.get_by_role("heading", name="Modules (10)")).to_be_visible()
    expect(page.locator("#modules tbody tr")).to_have_count(10)
    expect(page.locator(".overlap svg rect")).to_have_count(100)
    diagonal = page.locator(".overlap svg rect").nth(0).get_attribute("data-value")
    assert diagonal is not None and float(diagonal) == 1.0
    screenshot(page, "model")

    # Tick three classes, see the preview, build.
    for label in ("0", "3", "8"):
        page.get_by_label(f"select module {label}").check()
    page.get_by_role("button", name="Compose the ticked classes").click()
    expect(page.locator("#compose-classes input:checked")).to_have_count(3)
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Preview: 0, 3, 8")).to_be_visible()
    expect(preview.get_by_text("size ratio")).to_be_visible()
    screenshot(page, "compose")
    page.get_by_role("button", name="Build the composition").click()
    expect(page.get_by_role("heading", name="Composition of 0, 3, 8")).to_be_visible()
    composition_id = page.locator("#composition-id").inner_text()

    # Predict on an uploaded PNG: the page shows what /v1 answers for the same bytes.
    png, digit = digit_png(next(i for i in range(1797) if load_digits().target[i] == 3))
    image = tmp_path / "three.png"
    image.write_bytes(png)
    page.locator("#images").set_input_files(str(image))
    predicted = page.locator("#predictions .predicted")
    expect(predicted).to_have_count(1)
    with httpx.Client(base_url=hub.url) as client:
        files = {"files": ("three.png", png, "image/png")}
        api = client.post(f"/v1/compositions/{composition_id}/predict", files=files)
    assert api.status_code == 200, api.text
    answer = api.json()["predictions"][0]
    assert predicted.inner_text() == answer["label"] == str(digit)
    shown = page.locator("#predictions .answer").inner_text()
    assert f"{100 * answer['probabilities'][answer['label']]:.1f} %" in shown
    expect(page.locator("#predictions svg rect")).to_have_count(3)
    snippets = page.locator(".snippet pre").all_inner_texts()
    assert any(f"/v1/compositions/{composition_id}/predict" in s and "$MODA_API_KEY" in s for s in snippets)
    assert not any(API_KEY in s for s in snippets)  # a secret never goes into a snippet
    screenshot(page, "predict")

    # Or images of the test split: two of each class, predicted with their true label beside.
    page.get_by_role("button", name="Or try images of the test split").click()
    expect(page.locator("#predictions .prediction canvas")).to_have_count(6)
    answers = page.locator("#predictions .answer").all_inner_texts()
    assert sum(a.endswith("right") for a in answers) >= 5, answers

    # The models page lists the model and the composition; at phone width nothing overflows sideways.
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("main table").first.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name=composition_id[:8])).to_be_visible()
    screenshot(page, "models")
    page.set_viewport_size({"width": 390, "height": 800})
    for route in ("#/models", f"#/compositions/{composition_id}", "#/jobs"):
        page.goto(f"{hub.url}/{route}")
        page.wait_for_selector("main h1")
        assert page.evaluate(OVERFLOWING) == [], route


def test_errors_are_shown_in_words(hub: LiveServer, page: sync_api.Page) -> None:
    page.goto(f"{hub.url}/#/models/no-such-model")
    expect = sync_api.expect
    expect(page.locator(".error")).to_contain_text("404")
    expect(page.locator(".error")).to_contain_text("no-such-model")
    page.goto(f"{hub.url}/#/jobs")
    page.evaluate("sessionStorage.setItem('moda-hub-api-key', 'browser-test-key')")
    form = page.locator("#train-form")
    form.get_by_label("Dataset").fill("imagenet")
    form.get_by_role("button", name="Start training").click()
    expect(form.locator(".error")).to_contain_text("400 INVALID_ARGUMENT")
    expect(form.locator(".error")).to_contain_text("dataset: Input should be 'digits'")  # the server's words


def test_a_running_job_is_cancelled_from_its_row(hub: LiveServer, page: sync_api.Page) -> None:
    expect = sync_api.expect
    page.goto(f"{hub.url}/#/jobs")
    page.evaluate(f"sessionStorage.setItem('moda-hub-api-key', '{API_KEY}')")
    form = page.locator("#train-form")
    form.get_by_label("Epochs").fill("1000")
    form.get_by_label("Name (optional)").fill("never-finished")
    form.get_by_role("button", name="Start training").click()
    row = page.locator("#jobs tbody tr").first
    expect(row.locator(".status")).to_have_text(re.compile("queued|running"))
    row.get_by_role("button", name="Cancel").click()
    expect(row.locator(".status")).to_have_text("cancelled", timeout=60_000)
    expect(row.get_by_role("button", name="Cancel")).to_be_hidden()


def test_with_every_endpoint_locked_the_page_asks_for_the_key(browser: sync_api.Browser, tmp_path: Path) -> None:
    expect = sync_api.expect
    env = {"MODA_API_KEY": API_KEY, "MODA_AUTH": "all", "MODA_WORKERS": "0"}
    with LiveServer(tmp_path / "locked", env) as server:
        page = browser.new_page()
        page.goto(f"{server.url}/")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()  # the page itself loads; its first API call is refused
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator(".error")).to_contain_text("401 UNAUTHENTICATED")
        page.get_by_role("button", name="API key").click()
        page.locator("#key-input").fill("wrong-key")
        page.locator("#key-ok").click()
        expect(dialog).to_be_visible()
        expect(page.locator("#key-reason")).to_contain_text("refused")
        page.locator("#key-input").fill(API_KEY)
        page.locator("#key-ok").click()
        expect(page.get_by_text("No models yet")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('moda-hub-api-key')") == API_KEY
        page.close()


def test_classes_of_two_models_are_composed_by_a_followed_calibrate_job(hub: LiveServer, page: sync_api.Page) -> None:
    expect = sync_api.expect
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with hub.client(headers=auth) as client:
        params = [{"epochs": 2, "seed": seed, "name": f"two-{seed}"} for seed in (1, 2)]
        jobs = [client.post("/v1/jobs", json={"kind": "train", "params": p}) for p in params]
        assert all(r.status_code == 202 for r in jobs), [r.text for r in jobs]
        models = [wait_for(lambda r=r: finished(client, r.json()["id"]), timeout=180, what="training") for r in jobs]
    page.goto(f"{hub.url}/#/compose")
    page.evaluate(f"sessionStorage.setItem('moda-hub-api-key', '{API_KEY}')")
    for model_id, label in zip(models, ("1", "7"), strict=True):
        group = page.locator(f"details[data-model='{model_id}']")
        if group.get_attribute("open") is None:
            group.locator("summary").click()
        group.get_by_label(label, exact=True).check()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("calibrated")
    page.get_by_role("button", name="Build the composition").click()
    # Outputs are ordered by model id, then class: either order, by the models' random ids.
    heading = page.get_by_role("heading", name=re.compile(r"^Composition of (1, 7|7, 1)$"))
    expect(heading).to_be_visible(timeout=120_000)
    expect(page.locator(".facts")).to_contain_text("calibrated")


def finished(client: httpx.Client, job_id: str) -> str | None:
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] not in ("failed", "cancelled"), job
    return job["result"]["model_id"] if job["status"] == "succeeded" else None
