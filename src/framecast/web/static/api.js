// The HTTP client of the page: every call carries `Authorization: Bearer <key>`; the key is
// kept in this browser's localStorage (it never appears in the page's markup or URLs).

const KEY_STORAGE = "framecast.apiKey";

/** An API call that did not succeed: HTTP status plus the dialect's error fields. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, param?: string}} [details]
   */
  constructor(message, { status = 0, code = "", param = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.param = param;
  }

  /** "InvalidParameter: `duration` must be ... (duration)" */
  describe() {
    const head = this.code ? `${this.code}: ` : this.status ? `HTTP ${this.status}: ` : "";
    return `${head}${this.message}`;
  }
}

/** The error carried by a non-2xx response body (Ark, OpenAI, FastAPI or plain text). */
async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: keep the status line
  }
  const err = body?.error;
  if (err && typeof err === "object") {
    return new ApiError(String(err.message || response.statusText), {
      status: response.status, code: String(err.code || ""), param: String(err.param || ""),
    });
  }
  const detail = typeof body?.detail === "string" ? body.detail : body?.message;
  return new ApiError(String(detail || response.statusText || "request failed"),
    { status: response.status });
}

export class Api {
  /** @param {Storage} storage where the key is kept */
  constructor(storage = window.localStorage) {
    this.storage = storage;
    this.key = storage.getItem(KEY_STORAGE) || "";
    /** @type {(() => void)[]} called when the server answers 401 */
    this.onUnauthorized = [];
  }

  /** Keep `key` for later visits. */
  setKey(key) {
    this.key = key.trim();
    if (this.key) this.storage.setItem(KEY_STORAGE, this.key);
    else this.storage.removeItem(KEY_STORAGE);
  }

  /**
   * A raw `fetch()` with the key; the caller reads the response (used for SSE).
   * @param {string} method
   * @param {string} path
   * @param {{body?: any, headers?: Object<string,string>, signal?: AbortSignal}} [options]
   * @returns {Promise<Response>}
   */
  async fetch(method, path, { body, headers = {}, signal } = {}) {
    const all = { Accept: "application/json", ...headers };
    if (this.key) all.Authorization = `Bearer ${this.key}`;
    const init = { method, headers: all, signal, cache: "no-store" };
    if (body !== undefined) {
      all["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 && this.key) this.onUnauthorized.forEach((fn) => fn());
    return response;
  }

  /**
   * Call a JSON endpoint; resolves to `{data, response}`, rejects with `ApiError`.
   * @returns {Promise<{data: any, response: Response}>}
   */
  async json(method, path, options = {}) {
    let response;
    try {
      response = await this.fetch(method, path, options);
    } catch (err) {
      if (err?.name === "AbortError") throw err;
      throw new ApiError(`cannot reach the server (${err?.message || err})`);
    }
    if (!response.ok) throw await errorFrom(response);
    const text = await response.text();
    return { data: text ? JSON.parse(text) : {}, response };
  }
}
