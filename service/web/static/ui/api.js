// The JSON API (/v1) as the page calls it: the API key when the server asks for one, and every
// error turned into an ApiError whose message is the server's own words.

const KEY_STORAGE = "moda-hub-api-key";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

let pendingPrompt = null;

/** Ask for the key in the page's dialog (once, however many requests were refused); true if one was given. */
export function askForKey(reason) {
  if (pendingPrompt) return pendingPrompt;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason;
  input.value = "";
  pendingPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      pendingPrompt = null;
      const key = input.value.trim();
      if (dialog.returnValue === "ok" && key) {
        sessionStorage.setItem(KEY_STORAGE, key);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
  });
  return pendingPrompt;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(response.status, `HTTP_${response.status}`, `the server answered ${response.status} ${response.statusText}`);
}

/**
 * fetch() with the API key; resolves to the Response when it is 2xx, throws an ApiError otherwise.
 * A 401 asks for the key and tries once more with it.
 */
export async function send(path, { method = "GET", json, form, signal } = {}) {
  const headers = { ...authHeaders() };
  let body;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "UNREACHABLE", "the server could not be reached: is MODA Hub still running?");
  }
  if (response.status === 401) {
    const reason = apiKey() ? "The server refused this API key: enter the right one." : "This server needs its API key (MODA_API_KEY) for this.";
    if (await askForKey(reason)) return send(path, { method, json, form, signal });
    throw await errorOf(response);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function get(path, params) {
  const query = params ? `?${new URLSearchParams(params)}` : "";
  return (await send(path + query)).json();
}

export async function post(path, options) {
  const response = await send(path, { method: "POST", ...options });
  return { status: response.status, body: await response.json() };
}

/** A server-sent event stream read with fetch (EventSource cannot send the API key): calls
 * onEvent(name, data) for each event until the stream ends or `signal` aborts it. */
export async function followEvents(path, onEvent, signal) {
  const response = await send(path, { signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

/** All items of a paged list endpoint. */
export async function all(path, params = {}) {
  const items = [];
  for (let offset = 0; ; ) {
    const page = await get(path, { ...params, offset, limit: 1000 });
    items.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total) return items;
  }
}

/** Save what `path` answers as a file (fetched with the API key, which a plain link cannot send). */
export async function download(path, filename) {
  const blob = await (await send(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
