// One composition: what it is, its ONNX file, ready-to-copy client snippets, and predictions on
// images dropped or chosen here (POST /v1/compositions/{id}/predict, multipart `files`) or on
// samples of its dataset's test split (the same endpoint, JSON inputs).

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
    h("p", { class: "muted" }, `They are resized to ${height}×${width}${channels === 1 ? ", grey" : ""} as the server does for every image.`),
    h("button", { type: "button", class: "secondary", id: "try-samples", onclick: () => trySamples() }, "Or try images of the test split"));
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
    const shown = images.map((file) => {
      const url = URL.createObjectURL(file);
      return { name: file.name, thumbnail: h("img", { src: url, alt: file.name, onload: () => URL.revokeObjectURL(url) }) };
    });
    await show(shown, { form });
  }

  async function trySamples() {
    results.replaceChildren(h("p", { class: "muted" }, "Fetching samples…"));
    try {
      const model = await get(`/v1/models/${c.classes[0].model_id}`);
      if (!model.dataset_id) throw new Error("the model has no dataset on record");
      const samples = await get(`/v1/datasets/${model.dataset_id}/samples`, [...labels.map((l) => ["labels", l]), ["n", 2 * labels.length]]);
      const shown = samples.map((sample, i) => ({ name: `sample ${i + 1} (a ${sample.label})`, truth: sample.label, thumbnail: picture(sample.pixels, c.input_spec.pixel_max) }));
      await show(shown, { json: { inputs: samples.map((sample) => sample.pixels) } });
    } catch (error) {
      results.replaceChildren(errorBox(error));
    }
  }

  /** Predict `body` and show each of `shown` ({name, thumbnail, truth?}) with its answer and probability bars. */
  async function show(shown, body) {
    results.replaceChildren(h("p", { class: "muted" }, "Predicting…"));
    try {
      const { body: answer } = await post(`/v1/compositions/${c.id}/predict`, body);
      results.replaceChildren(...answer.predictions.map((p, i) => {
        const probabilities = labels.map((label) => p.probabilities[label]);
        const verdict = shown[i].truth === undefined ? "" : p.label === shown[i].truth ? " — right" : ` — wrong, it is a ${shown[i].truth}`;
        return h("div", { class: "prediction" }, shown[i].thumbnail,
          h("div", {},
            h("p", { class: "answer" }, `${shown[i].name}: `, h("strong", { class: "predicted" }, p.label),
              ` (${fmt.pct(100 * p.probabilities[p.label])})${verdict}`),
            barChart(labels, probabilities.map((v) => 100 * v), { title: "Probability of each class (%)", max: 100, format: (v) => `${v.toFixed(1)} %` })));
      }));
    } catch (error) {
      results.replaceChildren(errorBox(error));
    }
  }
}

/** A (C, H, W) sample on the 0..pixelMax scale drawn on a canvas, grey or RGB. */
function picture(pixels, pixelMax) {
  const [height, width] = [pixels[0].length, pixels[0][0].length];
  const canvas = h("canvas", { width, height, role: "img", "aria-label": "sample image" });
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = 4 * (y * width + x);
      for (let k = 0; k < 3; k++) image.data[at + k] = Math.round((255 * pixels[Math.min(k, pixels.length - 1)][y][x]) / pixelMax);
      image.data[at + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  return canvas;
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
