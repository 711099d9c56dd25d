// Jobs: the list with live progress (the server-sent events of each job in flight), cancel, and the
// forms that start a train job and upload a model.

import { ApiError, followEvents, get, post } from "../api.js";
import { errorBox, fmt, h, table } from "../dom.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
// Suggestions only: the server checks the values and names the ones it knows when it refuses one.
const DATASETS = ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "npz"];
const ARCHITECTURES = ["mlp", "lenet5", "vgg16", "resnet18", "mobilenet"];

/** Follow a job's events until it ends; onProgress(snapshot) on every change; resolves to the final job. */
export async function followJob(jobId, onProgress, signal) {
  let last = null;
  await followEvents(`/v1/jobs/${jobId}/events`, (name, snapshot) => {
    last = snapshot;
    onProgress(snapshot);
  }, signal);
  return last && TERMINAL.has(last.status) ? last : get(`/v1/jobs/${jobId}`);
}

export function describeProgress(job) {
  const p = job.progress ?? {};
  const parts = [p.stage];
  if (p.epoch && p.epochs) parts.push(`epoch ${p.epoch}/${p.epochs}`);
  if (p.module && p.modules) parts.push(`module ${p.module}/${p.modules}`);
  if (Number.isFinite(p.test_accuracy)) parts.push(`test accuracy ${fmt.pct(p.test_accuracy)}`);
  return parts.filter(Boolean).join(", ");
}

function fraction(job) {
  const p = job.progress ?? {};
  if (job.status === "succeeded") return 1;
  if (p.epoch && p.epochs) return p.epoch / p.epochs;
  if (p.module && p.modules) return p.module / p.modules;
  return undefined; // indeterminate
}

function resultLink(job) {
  const r = job.result ?? {};
  if (r.composition_id) return h("a", { href: `#/compositions/${r.composition_id}` }, "composition");
  if (r.model_id) return h("a", { href: `#/models/${r.model_id}` }, "model");
  return job.error ? h("span", { class: "job-error" }, job.error) : "";
}

// A browser opens at most six connections to a host over HTTP/1.1, and every followed job holds
// one: a few jobs are followed live, the others are refreshed with the list every few seconds.
const MAX_STREAMS = 3;
const POLL_MS = 3000;

export async function jobsView(root, signal) {
  const list = h("section", { id: "jobs" });
  root.replaceChildren(
    h("h1", {}, "Jobs"),
    h("div", { class: "grid2" }, trainForm(() => refresh()), uploadForm(() => refresh())),
    list);
  const updaters = new Map(); // job id -> the update function of its row on the page now
  const streams = new Set(); // ids of the jobs followed live
  let timer = null;
  signal.addEventListener("abort", () => clearTimeout(timer));

  async function refresh() {
    clearTimeout(timer);
    const page = await get("/v1/jobs", { limit: 50 });
    updaters.clear();
    const rows = page.items.map((job) => row(job));
    list.replaceChildren(h("h2", {}, `Recent jobs (${page.total})`),
      page.items.length ? table(["Job", "Kind", "Status", "Progress", "Created", "Result", ""], rows, { narrowHidden: [4] })
        : h("p", { class: "muted" }, "No jobs yet."));
    const running = page.items.filter((job) => !TERMINAL.has(job.status));
    for (const job of running) if (!streams.has(job.id) && streams.size < MAX_STREAMS) follow(job.id);
    if (running.some((job) => !streams.has(job.id)) && !signal.aborted) {
      timer = setTimeout(() => refresh().catch(() => {}), POLL_MS);
    }
  }

  function follow(jobId) {
    streams.add(jobId);
    followJob(jobId, (snapshot) => updaters.get(jobId)?.(snapshot), signal)
      .then((job) => updaters.get(jobId)?.(job), (error) => {
        if (error.name !== "AbortError") list.prepend(errorBox(error));
      })
      .finally(() => {
        streams.delete(jobId);
        if (!signal.aborted) refresh().catch(() => {}); // the next job in line gets the stream
      });
  }

  function row(job) {
    const status = h("span", { class: "status", "data-job": job.id }, job.status);
    const bar = h("progress", { max: 1, value: fraction(job) });
    const text = h("span", { class: "progress-text" }, describeProgress(job));
    const result = h("span", {}, resultLink(job));
    const message = h("div");
    const cancel = h("button", { type: "button", class: "secondary", hidden: TERMINAL.has(job.status), onclick: async () => {
      try {
        update((await post(`/v1/jobs/${job.id}/cancel`)).body);
      } catch (error) {
        message.replaceChildren(errorBox(error));
      }
    } }, "Cancel");
    function update(snapshot) {
      status.textContent = snapshot.cancel_requested && !TERMINAL.has(snapshot.status) ? `${snapshot.status} (cancelling)` : snapshot.status;
      const value = fraction(snapshot);
      if (value === undefined) bar.removeAttribute("value");
      else bar.value = value;
      text.textContent = describeProgress(snapshot);
      result.replaceChildren(resultLink(snapshot));
      cancel.hidden = TERMINAL.has(snapshot.status);
    }
    updaters.set(job.id, update);
    return [h("code", {}, fmt.short(job.id)), job.kind, status, h("div", {}, bar, " ", text), fmt.date(job.created_at), result, h("div", {}, cancel, message)];
  }

  await refresh();
}

function field(label, input) {
  return h("label", {}, label, input);
}

function options(id, values) {
  return h("datalist", { id }, values.map((v) => h("option", { value: v })));
}

function submitting(form, onDone, makeRequest) {
  const outcome = h("div", { "aria-live": "polite" });
  form.append(outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    outcome.replaceChildren();
    try {
      const { body } = await makeRequest(new FormData(form));
      outcome.replaceChildren(h("p", { class: "notice" }, `Job ${fmt.short(body.id)} queued: its progress is below.`));
      await onDone();
    } catch (error) {
      outcome.replaceChildren(errorBox(error instanceof ApiError ? error : { message: error.message }));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function trainForm(onDone) {
  const number = (name, value, attrs = {}) => h("input", { type: "number", name, value, step: "any", min: 0, required: true, ...attrs });
  const form = h("form", { class: "stack", id: "train-form", "aria-labelledby": "train-title" },
    h("h2", { id: "train-title" }, "Train a model"),
    h("div", { class: "fields" },
      field("Dataset", h("input", { name: "dataset", value: "digits", list: "datasets", required: true })),
      field("Data directory (optional)", h("input", { name: "data_dir", placeholder: "below MODA_DATASETS_DIR" })),
      field("Architecture", h("input", { name: "arch", value: "mlp", list: "architectures", required: true })),
      field("Epochs", number("epochs", 10, { min: 1, step: 1 })),
      field("α affinity", number("alpha", 1.0)), field("β dispersion", number("beta", 1.0)), field("γ compactness", number("gamma", 0.3)),
      field("τ (modules)", number("tau", 0.9, { max: 1 })),
      field("Name (optional)", h("input", { name: "name", placeholder: "dataset-arch" }))),
    h("p", { class: "muted" }, "α = β = γ = 0 trains a standard model."),
    options("datasets", DATASETS), options("architectures", ARCHITECTURES),
    h("div", { class: "row" }, h("button", { type: "submit" }, "Start training")));
  return submitting(form, onDone, (data) => {
    const params = { dataset: data.get("dataset").trim(), arch: data.get("arch").trim() };
    for (const key of ["epochs", "alpha", "beta", "gamma", "tau"]) params[key] = Number(data.get(key));
    for (const key of ["data_dir", "name"]) if (data.get(key).trim()) params[key] = data.get(key).trim();
    return post("/v1/jobs", { json: { kind: "train", params } });
  });
}

function uploadForm(onDone) {
  const form = h("form", { class: "stack", id: "upload-form", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload a trained model"),
    h("div", { class: "fields" },
      field("Weights (.safetensors, .pt)", h("input", { type: "file", name: "file", accept: ".safetensors,.pt,.pth,.bin", required: true })),
      field("Architecture", h("input", { name: "arch", value: "mlp", list: "architectures", required: true })),
      field("Dataset", h("input", { name: "dataset", value: "digits", list: "datasets", required: true })),
      field("Labels (optional)", h("input", { name: "labels", placeholder: "cat, dog, …" })),
      field("Name (optional)", h("input", { name: "name" }))),
    h("div", { class: "row" }, h("button", { type: "submit" }, "Upload")));
  return submitting(form, onDone, (data) => {
    for (const key of ["labels", "name"]) if (!data.get(key).trim()) data.delete(key);
    return post("/v1/models", { form: data });
  });
}
