// Compose: tick classes of one model (or of several with the same input), see what the composition
// costs before building it (GET /v1/compositions/preview), build it, and follow its job when it is 202.

import { all, get, post } from "../api.js";
import { errorBox, facts, fmt, h } from "../dom.js";
import { followJob } from "./jobs.js";

export async function composeView(root, query, signal) {
  const chosen = new Set((new URLSearchParams(query).get("modules") ?? "").split(",").filter(Boolean));
  const models = await all("/v1/models");
  if (!models.length) {
    root.replaceChildren(h("h1", {}, "Compose"), h("p", { class: "notice" }, "No models yet. ", h("a", { href: "#/jobs" }, "Train one first.")));
    return;
  }
  const modulesOf = await Promise.all(models.map((m) => all(`/v1/models/${m.id}/modules`)));
  const boxes = [];
  const groups = models.map((model, i) => {
    const taus = [...new Set(modulesOf[i].map((m) => m.tau))];
    const tau = taus.includes(0.9) ? 0.9 : taus[0];
    const own = modulesOf[i].filter((m) => m.tau === tau).sort((a, b) => a.class_index - b.class_index);
    const ticks = own.map((m) => {
      const box = h("input", { type: "checkbox", value: m.id, checked: chosen.has(m.id), onchange: changed });
      boxes.push(box);
      return h("label", { class: "check" }, box, m.label);
    });
    const open = own.some((m) => chosen.has(m.id)) || (i === 0 && !chosen.size);
    return h("details", { open, "data-model": model.id },
      h("summary", {}, `${model.name} v${model.version} — ${model.arch}, ${own.length} modules${tau === undefined ? "" : ` at τ = ${tau}`}`),
      own.length ? h("div", { class: "classes" }, ticks) : h("p", { class: "muted" }, "No modules."));
  });
  const preview = h("section", { id: "preview", "aria-live": "polite" });
  const build = h("button", { type: "button", id: "build", disabled: true, onclick: () => buildIt(selected(), preview, build, signal) }, "Build the composition");
  root.replaceChildren(
    h("h1", {}, "Compose"),
    h("p", { class: "muted" }, "Tick the classes the new classifier should tell apart. It is cut out of the models' modules: smaller and faster than the models."),
    h("div", { id: "compose-classes" }, groups), preview, h("div", { class: "row" }, build));

  function selected() {
    return boxes.filter((box) => box.checked).map((box) => box.value);
  }
  let asked = 0;
  async function changed() {
    const ids = selected();
    const mine = ++asked;
    build.disabled = !ids.length;
    if (!ids.length) {
      preview.replaceChildren(h("p", { class: "muted" }, "Tick at least one class."));
      return;
    }
    preview.replaceChildren(h("p", { class: "muted" }, "Measuring…"));
    try {
      const p = await get("/v1/compositions/preview", ids.map((id) => ["modules", id]));
      if (mine === asked) preview.replaceChildren(...describe(p));
    } catch (error) {
      if (mine === asked) {
        preview.replaceChildren(errorBox(error));
        build.disabled = true;
      }
    }
  }
  changed();
}

function describe(p) {
  const expected = p.existing ? fmt.pct(p.existing.accuracy) : p.strategy === "prune" ? "measured when built" : "measured by the calibrate job";
  return [
    h("h2", {}, `Preview: ${p.labels.join(", ")}`),
    facts([
      ["classes", p.labels.length], ["parameters", `${fmt.int(p.params)} of ${fmt.int(p.source_params)}`],
      ["size ratio", fmt.ratio(p.size_ratio)], ["MACs per sample", `${fmt.int(p.macs)} of ${fmt.int(p.source_macs)}`],
      ["strategy", p.strategy === "prune" ? "prune (one model)" : "calibrated (several models: a job fits it)"],
      ["accuracy", expected],
    ]),
    p.existing ? h("p", { class: "notice" }, "Built already: ", h("a", { href: `#/compositions/${p.existing.id}` }, "open it"), ".") : "",
  ];
}

async function buildIt(ids, preview, build, signal) {
  build.disabled = true;
  const status = h("div", { role: "status" }, "Building…");
  preview.append(status);
  try {
    const { status: code, body } = await post("/v1/compositions", { json: { modules: ids } });
    if (code !== 202) {
      location.hash = `#/compositions/${body.id}`;
      return;
    }
    const progress = h("progress", { max: 1 });
    status.replaceChildren("A calibrate job builds it: ", h("a", { href: "#/jobs" }, fmt.short(body.id)), " ", progress);
    const job = await followJob(body.id, (snapshot) => {
      const p = snapshot.progress ?? {};
      if (p.epoch && p.epochs) progress.value = p.epoch / p.epochs;
    }, signal);
    if (job.status === "succeeded") location.hash = `#/compositions/${job.result.composition_id}`;
    else status.replaceChildren(errorBox({ message: `the calibrate job ${job.status}: ${job.error ?? "no reason given"}` }));
  } catch (error) {
    if (error.name !== "AbortError") status.replaceChildren(errorBox(error));
  } finally {
    build.disabled = false;
  }
}
