// The web UI's router: one view per hash route, each rendering into <main id="view">.

import { askForKey, apiKey } from "./api.js";
import { errorBox, h } from "./dom.js";
import { compositionView } from "./views/composition.js";
import { composeView } from "./views/compose.js";
import { jobsView } from "./views/jobs.js";
import { modelView } from "./views/model.js";
import { modelsView } from "./views/models.js";

const ROUTES = [
  [/^#\/models\/([^/?]+)$/, modelView, "models"],
  [/^#\/compositions\/([^/?]+)$/, compositionView, "models"],
  [/^#\/compose(?:\?(.*))?$/, composeView, "compose"],
  [/^#\/jobs$/, jobsView, "jobs"],
  [/^#?\/?(?:models)?$/, modelsView, "models"],
];

let leaving = null; // aborts the current view's live streams when another is shown

async function show() {
  leaving?.abort();
  leaving = new AbortController();
  const view = document.getElementById("view");
  const hash = location.hash || "#/models";
  const [pattern, render, nav] = ROUTES.find(([re]) => re.test(hash)) ?? [];
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.toggleAttribute("aria-current", link.dataset.nav === nav);
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
  }
  if (!render) {
    view.replaceChildren(h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "#/models" }, "See the models.")));
    return;
  }
  const args = hash.match(pattern).slice(1).map((part) => (part === undefined ? "" : decodeURIComponent(part)));
  const content = h("div", { class: "page" }, h("p", { class: "muted" }, "Loading…"));
  view.replaceChildren(content);
  try {
    await render(content, ...args, leaving.signal);
  } catch (error) {
    if (error.name !== "AbortError") content.replaceChildren(errorBox(error));
  }
}

const keyButton = document.getElementById("key-button");
keyButton.hidden = false;
keyButton.addEventListener("click", async () => {
  if (await askForKey(apiKey() ? "Replace the API key this tab sends." : "Enter the server's API key (MODA_API_KEY).")) show();
});
window.addEventListener("hashchange", show);
show();
