// One composition: what it is, its ONNX file, ready-to-copy client snippets, and predictions on
// images dropped or chosen here (POST /v1/compositions/{id}/predict, multipart `files`).

import { apiKey, download, get, post } from "../api.js";
import { barChart } from "../charts.js";
import { errorBox, facts, fmt, h } from "../dom.js";

export async function compositionView(root, compositionId) {
  const c = await get(`/v1/compositions/${encodeURIComponent(compositionId)}`);
  const labels = c.classes.map((k) => k.label);
  const { channels, height, width } = c.input_spec;
  const results = h("section", { id: "predictions", "aria-live": "polite" });
  const input = h("input", { type: "file", id: "images", accept: "image/png,image/jpeg", multiple: true, onchange: () => predict([...input.files]) });
  const drop = h("div", { class: "drop", id: "drop" },
    h("p", {}, "Drop PNG or JPEG images here, or"), h("label", { class: "pick" }, "choose files", input),
    h("p", { class: "muted" }, `They are resized to ${height}×${width}${channels === 1 ? ", grey" : ""} as the server does for every image.`));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    predict([...e.dataTransfer.files]);
  });
  const downloadError = h("div");
  root.replaceChildren(
    h("h1", {}, `Composition of ${labels.join(", ")}`),
    facts([
      ["id", h("code", { id: "composition-id" }, c.id)], ["strategy", c.strategy], ["classes", labels.length],
      ["parameters", fmt.int(c.params)], ["size ratio", fmt.ratio(c.size_ratio)], ["MACs per sample", fmt.int(c.macs)],
      ["accuracy", fmt.pct(c.accuracy)], ["input", `${channels}×${height}×${width}, 0..${c.input_spec.pixel_max}`],
    ]),
    h("h2", {}, "Predict"), drop, results,
    h("h2", {}, "Use it elsewhere"),
    h("div", { class: "row" }, h("button", { type: "button", class: "secondary", id: "download-onnx", onclick: () =>
      download(`/v1/compositions/${c.id}/onnx`, `composition-${c.id}.onnx`).catch((error) => downloadError.replaceChildren(errorBox(error))) },
    "Download ONNX")), downloadError,
    snippet("curl", curlSnippet(c)), snippet("Python (tritonclient)", tritonSnippet(c)));

  async function predict(files) {
    const images = files.filter((f) => /^image\/(png|jpeg)$/.test(f.type));
    if (!images.length) {
      results.replaceChildren(errorBox({ message: "choose PNG or JPEG images" }));
      return;
    }
    const form = new FormData();
    for (const file of images) form.append("files", file, file.name);
    results.replaceChildren(h("p", { class: "muted" }, "Predicting…"));
    try {
      const { body } = await post(`/v1/compositions/${c.id}/predict`, { form });
      results.replaceChildren(...body.predictions.map((p, i) => {
        const url = URL.createObjectURL(images[i]);
        const probabilities = labels.map((label) => p.probabilities[label]);
        return h("div", { class: "prediction" },
          h("img", { src: url, alt: images[i].name, onload: () => URL.revokeObjectURL(url) }),
          h("div", {},
            h("p", { class: "answer" }, `${images[i].name}: `, h("strong", { class: "predicted" }, p.label),
              ` (${fmt.pct(100 * p.probabilities[p.label])})`),
            barChart(labels, probabilities.map((v) => 100 * v), { title: "Probability of each class (%)", max: 100, format: (v) => `${v.toFixed(1)} %` })));
      }));
    } catch (error) {
      results.replaceChildren(errorBox(error));
    }
  }
}

function snippet(title, text) {
  const pre = h("pre", {}, h("code", {}, text));
  const copy = h("button", { type: "button", class: "secondary", onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Select the text to copy";
    }
  } }, "Copy");
  return h("figure", { class: "snippet" }, h("figcaption", {}, title), pre, copy);
}

// The key itself never goes into a snippet: it names the variable that holds it.
function authLine(prefix) {
  return apiKey() ? prefix : "";
}

function curlSnippet(c) {
  const base = location.origin;
  const auth = authLine(` \\\n     -H "Authorization: Bearer $MODA_API_KEY"`);
  return [
    `# predict images (PNG or JPEG) with composition ${c.id}`,
    `curl -s -XPOST ${base}/v1/compositions/${c.id}/predict${auth} \\`,
    `     -F files=@image.png`,
    ``,
    `# the ONNX file: normalisation is inside the graph`,
    `curl -s -o composition.onnx ${base}/v1/compositions/${c.id}/onnx${authLine(` -H "Authorization: Bearer $MODA_API_KEY"`)}`,
  ].join("\n");
}

function tritonSnippet(c) {
  const { channels, height, width } = c.input_spec;
  const headers = apiKey() ? `headers={"Authorization": "Bearer " + os.environ["MODA_API_KEY"]}` : "";
  return [
    ...(headers ? ["import os", ""] : []),
    "import numpy as np",
    "import tritonclient.http as httpclient",
    "",
    `client = httpclient.InferenceServerClient("${location.host}")`,
    `# raw pixels on the dataset's own scale (0..${c.input_spec.pixel_max}), batch × ${channels} × ${height} × ${width}`,
    `x = np.zeros((1, ${channels}, ${height}, ${width}), dtype=np.float32)`,
    `inputs = [httpclient.InferInput("input", list(x.shape), "FP32")]`,
    "inputs[0].set_data_from_numpy(x)",
    `outputs = [httpclient.InferRequestedOutput("probabilities")]`,
    `result = client.infer("${c.id}", inputs, outputs=outputs${headers ? `, ${headers}` : ""})`,
    `labels = ${JSON.stringify(c.classes.map((k) => k.label))}`,
    `print(labels[int(result.as_numpy("probabilities")[0].argmax())])`,
  ].join("\n");
}
