// Small inline-SVG charts: lines (training curves), horizontal bars, and a heatmap. Every mark
// carries its number as text or a <title>, and lines differ by dash as well as colour.

import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2457a6", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0e7490"];
const DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function svg(width, height, label) {
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label });
}

function ticks(min, max, count = 4) {
  const step = (max - min) / count;
  return Array.from({ length: count + 1 }, (_, i) => min + i * step);
}

/** Lines over x = 1..n: series = [{name, values}] (null values are gaps). */
export function lineChart(series, { title, width = 520, height = 240 } = {}) {
  const pad = { left: 52, right: 12, top: 12, bottom: 34 };
  const values = series.flatMap((line) => line.values).filter((v) => Number.isFinite(v));
  const n = Math.max(...series.map((line) => line.values.length));
  let lo = Math.min(0, ...values);
  let hi = Math.max(...values);
  if (!values.length || hi === lo) hi = lo + 1;
  const x = (i) => pad.left + (n <= 1 ? 0 : (i / (n - 1)) * (width - pad.left - pad.right));
  const y = (v) => height - pad.bottom - ((v - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  const chart = svg(width, height, title);
  chart.append(s("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: y(lo), y2: y(lo) }));
  chart.append(s("line", { class: "axis", x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom }));
  for (const v of ticks(lo, hi)) {
    chart.append(s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, Number(v.toPrecision(3))));
  }
  const every = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += every) chart.append(s("text", { x: x(i), y: height - pad.bottom + 14, "text-anchor": "middle" }, i + 1));
  chart.append(s("text", { x: (width + pad.left) / 2, y: height - 4, "text-anchor": "middle" }, "epoch"));
  series.forEach((line, k) => {
    const points = line.values.map((v, i) => (Number.isFinite(v) ? `${x(i)},${y(v)}` : null)).filter(Boolean);
    const style = { stroke: COLOURS[k % COLOURS.length], "stroke-dasharray": DASHES[k % DASHES.length] || undefined };
    chart.append(s("polyline", { points: points.join(" "), fill: "none", "stroke-width": 2, ...style },
      s("title", {}, `${line.name}: ${line.values.map((v) => (Number.isFinite(v) ? v.toPrecision(4) : "–")).join(", ")}`)));
  });
  const legend = h("div", { class: "legend" }, series.map((line, k) =>
    h("span", { class: DASHES[k % DASHES.length] ? "dash" : undefined, style: `--c: ${COLOURS[k % COLOURS.length]}` }, line.name)));
  return h("figure", { class: "figure" }, h("figcaption", {}, title), chart, legend);
}

/** Horizontal bars, one per label, each with its value written beside it. */
export function barChart(labels, values, { title, max, format = (v) => String(v), width = 520 } = {}) {
  const row = 22;
  const pad = { left: 70, right: 70 };
  const height = labels.length * row + 8;
  const top = max ?? Math.max(...values.filter(Number.isFinite), 1e-9);
  const chart = svg(width, height, title);
  labels.forEach((label, i) => {
    const v = values[i];
    const length = Number.isFinite(v) ? (Math.max(0, v) / top) * (width - pad.left - pad.right) : 0;
    const yTop = 4 + i * row;
    chart.append(s("text", { x: pad.left - 6, y: yTop + 14, "text-anchor": "end" }, label));
    chart.append(s("rect", { x: pad.left, y: yTop + 2, width: length, height: row - 6, fill: COLOURS[0] },
      s("title", {}, `${label}: ${Number.isFinite(v) ? format(v) : "unknown"}`)));
    chart.append(s("text", { x: pad.left + length + 4, y: yTop + 14 }, Number.isFinite(v) ? format(v) : "–"));
  });
  return h("figure", { class: "figure" }, h("figcaption", {}, title), chart);
}

/** A labelled matrix of values in [0, 1]: darker is higher, and each cell prints its value. */
export function heatmap(labels, matrix, { title, format = (v) => v.toFixed(2) } = {}) {
  const cell = 44;
  const pad = 56;
  const size = pad + labels.length * cell + 4;
  const chart = svg(size, size, title);
  chart.classList.add("heatmap");
  labels.forEach((label, i) => {
    chart.append(s("text", { x: pad - 6, y: pad + i * cell + cell / 2 + 4, "text-anchor": "end" }, label));
    chart.append(s("text", { x: pad + i * cell + cell / 2, y: pad - 8, "text-anchor": "middle" }, label));
  });
  matrix.forEach((rowValues, i) => rowValues.forEach((v, j) => {
    const shade = Math.round(255 - 200 * Math.min(1, Math.max(0, v)));
    const fill = `rgb(${shade}, ${Math.round(shade * 0.95 + 10)}, 255)`;
    chart.append(s("rect", { x: pad + j * cell, y: pad + i * cell, width: cell - 2, height: cell - 2, fill, "data-value": v },
      s("title", {}, `${labels[i]} × ${labels[j]}: ${format(v)}`)));
    chart.append(s("text", { x: pad + j * cell + cell / 2 - 1, y: pad + i * cell + cell / 2 + 3, "text-anchor": "middle",
      style: `fill: ${shade < 120 ? "#fff" : "#111"}; font-size: 10px` }, format(v)));
  }));
  return h("figure", { class: "figure" }, h("figcaption", {}, title), chart);
}
