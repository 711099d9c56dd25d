// Models: every registered model, and the compositions built from their modules.

import { all } from "../api.js";
import { fmt, h, table, training } from "../dom.js";

export async function modelsView(root) {
  const [models, datasets, compositions] = await Promise.all([all("/v1/models"), all("/v1/datasets"), all("/v1/compositions")]);
  const datasetName = Object.fromEntries(datasets.map((d) => [d.id, d.name]));
  const modelName = Object.fromEntries(models.map((m) => [m.id, `${m.name} v${m.version}`]));
  root.replaceChildren(
    h("h1", {}, "Models"),
    models.length
      ? table(
          ["Name", "Version", "Architecture", "Dataset", "Training", "Accuracy", "Size (params)", "Created"],
          models.map((m) => [
            h("a", { href: `#/models/${m.id}` }, m.name), m.version, m.arch, datasetName[m.dataset_id] ?? "–",
            training(m), fmt.pct(m.metrics.accuracy), fmt.int(m.metrics.params), fmt.date(m.created_at),
          ]),
          { numeric: [1, 5, 6], narrowHidden: [2, 4, 7] },
        )
      : h("p", { class: "notice" }, "No models yet. ", h("a", { href: "#/jobs" }, "Train one or upload one on the Jobs page.")),
    h("h2", {}, "Compositions"),
    compositions.length
      ? table(
          ["Composition", "Classes", "From", "Strategy", "Size ratio", "Accuracy", "Created"],
          compositions.map((c) => [
            h("a", { href: `#/compositions/${c.id}` }, fmt.short(c.id)), c.classes.map((k) => k.label).join(", "),
            [...new Set(c.classes.map((k) => modelName[k.model_id] ?? fmt.short(k.model_id)))].join(", "),
            c.strategy, fmt.ratio(c.size_ratio), fmt.pct(c.accuracy), fmt.date(c.created_at),
          ]),
          { numeric: [4, 5], narrowHidden: [2, 3, 6] },
        )
      : h("p", { class: "muted" }, "None yet: tick some classes on the ", h("a", { href: "#/compose" }, "Compose"), " page."),
  );
}
