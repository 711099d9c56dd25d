"""/docs, /redoc and the web UI render offline: every script, style and icon their pages link is
served by the app itself, on the same host, even with MODA_AUTH=all and an API key set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.live_server import LiveServer

PAGES = ("/docs", "/redoc", "/")
IMPORT = re.compile(r"""^\s*import\s[^'"]*['"]([^'"]+)['"]""", re.MULTILINE)  # static ES module imports


class LinkedAssets(HTMLParser):
    """The URLs a page makes the browser load: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def linked_assets(html: str) -> list[str]:
    parser = LinkedAssets()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def locked_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("docs")
    env = {"MODA_API_KEY": "s3cret-docs", "MODA_AUTH": "all", "MODA_WORKERS": "0"}
    with LiveServer(home, env) as server, server.client() as client:
        yield client


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_of_the_page_is_served_by_the_app(locked_down: httpx.Client, page: str) -> None:
    response = locked_down.get(page)
    assert response.status_code == 200, response.text
    assert "text/html" in response.headers["content-type"]
    assets = linked_assets(response.text)
    assert any(url.endswith(".js") for url in assets), f"{page} links no script: {assets}"
    fetched = fetch_all(locked_down, page, assets)
    assert not any("fonts.googleapis" in url for url in fetched)


def fetch_all(client: httpx.Client, page: str, urls: list[str]) -> list[str]:
    """Fetch `urls` (relative to `page`) and the ES modules they import, transitively; return all."""
    seen: list[str] = []
    pending = [urljoin(page, url) for url in urls]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.append(url)
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another host"
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        assert response.content, url
        if url.endswith(".js") and "/vendor/" not in url:
            pending += [urljoin(url, imported) for imported in IMPORT.findall(response.text)]
    return seen


def test_the_vendored_bundles_are_the_versions_the_readme_pins() -> None:
    vendor = Path(__file__).resolve().parents[2] / "service" / "web" / "static" / "vendor"
    readme = (vendor / "README.md").read_text()
    swagger = re.search(r'PACKAGE_VERSION:"([\d.]+)"', (vendor / "swagger-ui" / "swagger-ui-bundle.js").read_text())
    redoc = re.search(r'ReDoc Version: ","([\d.]+)"', (vendor / "redoc" / "redoc.standalone.js").read_text())
    assert swagger and redoc
    assert f"| `swagger-ui-dist` | {swagger[1]} |" in readme
    assert f"| `redoc` | {redoc[1]} |" in readme


def test_the_page_runs_only_the_apps_own_scripts(locked_down: httpx.Client) -> None:
    policy = locked_down.get("/").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
