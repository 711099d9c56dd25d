// Building the page from data with textContent only: nothing the API returns is ever parsed as HTML.

/** h("a", {href: "#/x", class: "y"}, "text", child, ...): an element. `on*` attributes add listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** The error in words, where the user looks: the server's message and what kind of refusal it was. */
export function errorBox(error) {
  const status = error.status ? ` (${error.status} ${error.code})` : "";
  return h("div", { class: "error", role: "alert" }, `${error.message}${status}`);
}

export function table(headers, rows, { numeric = [], narrowHidden = [] } = {}) {
  const cls = (i) => [numeric.includes(i) ? "num" : "", narrowHidden.includes(i) ? "hide-narrow" : ""].join(" ").trim() || undefined;
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, headers.map((title, i) => h("th", { class: cls(i), scope: "col" }, title)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { class: cls(i) }, cell)))))));
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))));
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  pct: (n, digits = 1) => (n === null || n === undefined ? "–" : `${Number(n).toFixed(digits)} %`),
  ratio: (r) => (r === null || r === undefined ? "–" : `${(100 * r).toFixed(1)} %`),
  num: (n, digits = 3) => (n === null || n === undefined ? "–" : Number(n).toPrecision(digits)),
  date: (iso) => (iso ? new Date(iso).toLocaleString() : "–"),
  short: (id) => String(id).slice(0, 8),
};

export function training(model) {
  const { alpha, beta, gamma } = model;
  return alpha === 0 && beta === 0 && gamma === 0 ? "standard" : `MODA (α ${alpha}, β ${beta}, γ ${gamma})`;
}
