// One model: its facts, training curves, per-class module size and accuracy, and the overlap heatmap.

import { all, download, get } from "../api.js";
import { barChart, heatmap, lineChart } from "../charts.js";
import { errorBox, facts, fmt, h, table, training } from "../dom.js";

export async function modelView(root, modelId) {
  const [model, modules, datasets] = await Promise.all([
    get(`/v1/models/${encodeURIComponent(modelId)}`), all(`/v1/models/${encodeURIComponent(modelId)}/modules`), all("/v1/datasets"),
  ]);
  const dataset = datasets.find((d) => d.id === model.dataset_id);
  const taus = [...new Set(modules.map((m) => m.tau))].sort((a, b) => b - a);
  const section = h("section", { id: "modules" });
  const downloadError = h("div");
  const saveOnnx = () => download(`/v1/models/${model.id}/onnx`, `model-${model.name}-v${model.version}.onnx`)
    .catch((error) => downloadError.replaceChildren(errorBox(error)));
  root.replaceChildren(
    h("h1", {}, `${model.name} v${model.version}`),
    facts([
      ["architecture", model.arch], ["dataset", dataset?.name ?? "–"], ["training", training(model)],
      ["accuracy", fmt.pct(model.metrics.accuracy)], ["parameters", fmt.int(model.metrics.params)],
      ["MACs per sample", fmt.int(model.metrics.macs)], ["classes", model.labels.length], ["created", fmt.date(model.created_at)],
    ]),
    h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: saveOnnx }, "Download ONNX")),
    downloadError,
    h("h2", {}, "Training"),
    curves(model),
    section,
  );
  if (!taus.length) {
    section.replaceChildren(h("h2", {}, "Modules"), h("p", { class: "notice" }, "This model has no modules yet."));
    return;
  }
  await renderModules(section, model, modules, taus, taus.includes(0.9) ? 0.9 : taus[0]);
}

function curves(model) {
  const history = model.metrics.history;
  if (!history?.length) return h("p", { class: "muted" }, "No training history on record (an uploaded model).");
  const series = (key, name) => ({ name, values: history.map((epoch) => epoch[key] ?? null) });
  const lossKeys = [["loss", "total loss"], ["ce", "cross-entropy"], ["affinity", "affinity"], ["dispersion", "dispersion"], ["compactness", "compactness"]];
  return h("div", { class: "grid2" },
    lineChart(lossKeys.filter(([key]) => key in history[0]).map(([key, name]) => series(key, name)), { title: "Loss terms per epoch" }),
    lineChart([series("train_accuracy", "train accuracy"), series("test_accuracy", "test accuracy")]
      .filter((line) => line.values.some((v) => v !== null)), { title: "Accuracy per epoch (%)" }));
}

/** The modules at `tau` (of all the model's `modules`, decomposed at each of `taus`). */
async function renderModules(section, model, modules, taus, tau) {
  const picker = h("select", { "aria-label": "τ", onchange: (e) => renderModules(section, model, modules, taus, Number(e.target.value)) },
    taus.map((t) => h("option", { value: t, selected: t === tau }, `τ = ${t}`)));
  const shown = modules.filter((m) => m.tau === tau).sort((a, b) => a.class_index - b.class_index);
  const labels = shown.map((m) => m.label);
  const classAccuracy = model.metrics.class_accuracy ?? [];
  const ticks = shown.map((m) => h("input", { type: "checkbox", value: m.id, "aria-label": `select module ${m.label}` }));
  const composeSelected = () => {
    const chosen = ticks.filter((t) => t.checked).map((t) => t.value);
    location.hash = `#/compose?modules=${chosen.join(",")}`;
  };
  const heat = h("div", { class: "muted" }, "Measuring the overlap…");
  section.replaceChildren(
    h("h2", {}, `Modules (${shown.length})`),
    taus.length > 1 ? h("label", { class: "check" }, "Decomposed at ", picker) : h("p", { class: "muted" }, `Decomposed at τ = ${tau}`),
    h("div", { class: "grid2" },
      barChart(labels, shown.map((m) => 100 * m.size), { title: "Module size (% of the model's parameters)", format: (v) => `${v.toFixed(1)} %` }),
      barChart(labels, shown.map((m) => classAccuracy[m.class_index] ?? NaN), { title: "Accuracy of the model on each class (%)", max: 100, format: (v) => `${v.toFixed(1)} %` })),
    heat,
    table(["", "Class", "Parameters", "Size", "MACs", "Module"],
      shown.map((m, i) => [ticks[i], m.label, fmt.int(m.params), fmt.ratio(m.size), fmt.int(m.metrics.macs), h("code", {}, fmt.short(m.id))]),
      { numeric: [2, 3, 4], narrowHidden: [4, 5] }),
    h("div", { class: "row" }, h("button", { type: "button", onclick: composeSelected }, "Compose the ticked classes")),
  );
  try {
    const overlap = await get(`/v1/models/${model.id}/overlap`, { tau });
    heat.replaceChildren(
      heatmap(overlap.labels, overlap.jaccard, { title: "Overlap of the modules (Jaccard index of their parameters: 1 = identical, 0 = disjoint)" }));
    heat.className = "overlap";
  } catch (error) {
    heat.replaceChildren(errorBox(error));
  }
}
