// Live task progress. `EventSource` cannot send an Authorization header, so the stream
// `GET /framecast/v1/tasks/{id}/events` is read with `fetch()` and parsed here. A dropped
// stream reconnects with `Last-Event-ID`; a server without the endpoint (404) is polled
// through the Ark task endpoint once a second instead.

import { ApiError } from "./api.js";
import { sleep } from "./dom.js";

export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "expired"]);
const POLL_MS = 1000;
const RECONNECT_MS = [500, 1000, 2000, 5000, 10000];   // backoff, last value repeats

/**
 * An incremental parser of `text/event-stream` (the WHATWG algorithm): feed it decoded text
 * in chunks of any size; it calls `onEvent({type, data, id})` for each dispatched event.
 * `lastEventId` is the id to resume from: as in `EventSource`, an `id:` line counts once the
 * blank line that ends its event has arrived.
 */
export class SSEParser {
  /** @param {(event: {type: string, data: string, id: string|null}) => void} onEvent */
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.skipLF = false;     // the previous chunk ended in "\r": a leading "\n" ends that line
    this.data = [];
    this.type = "";
    this.idBuffer = null;    // the latest `id:` line, committed at the next blank line
    this.lastEventId = null; // persists across events and reconnects
    this.retryMs = null;
  }

  /** Parse a chunk of text. */
  push(chunk) {
    let text = chunk;
    if (this.skipLF && text.startsWith("\n")) text = text.slice(1);
    this.skipLF = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== "\n" && c !== "\r") continue;
      this.line(this.buffer.slice(start, i));
      if (c === "\r") {
        if (i + 1 === this.buffer.length) this.skipLF = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** One line of the stream. */
  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;   // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.idBuffer = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    return undefined;
  }

  /** A blank line: hand over the event gathered so far. */
  dispatch() {
    this.lastEventId = this.idBuffer;
    const data = this.data.join("\n");
    const type = this.type || "message";
    const hadData = this.data.length > 0;
    this.data = [];
    this.type = "";
    if (hadData) this.onEvent({ type, data, id: this.lastEventId });
  }

  /** The connection ended: an event without its blank line is discarded (not dispatched). */
  end() {
    this.buffer = "";
    this.skipLF = false;
    this.data = [];
    this.type = "";
    this.idBuffer = this.lastEventId;
  }
}

/** Whether the server has the events endpoint (learnt from the first 404). */
const support = { events: true };

/**
 * Follows one video task until it is terminal.
 *
 * `onUpdate(update)` receives `{status, progress, step, total_steps, eta_s, outputs, error}`
 * (progress 0–100; step/eta may be null when polling); `onDone(task)` receives the Ark task
 * object once the task is terminal; `onError(ApiError)` when following is impossible (the
 * task is gone, the key was rejected).
 */
export class TaskWatcher {
  /**
   * @param {import("./api.js").Api} api
   * @param {string} taskId
   * @param {{onUpdate?: Function, onDone?: Function, onError?: Function, onMode?: Function}} hooks
   */
  constructor(api, taskId, hooks) {
    this.api = api;
    this.taskId = taskId;
    this.hooks = hooks;
    this.controller = new AbortController();
    this.finished = false;
  }

  /** Start following (streams when the server can, else polls). */
  start() {
    const run = support.events ? this.stream() : this.poll();
    run.catch((err) => {
      if (!this.controller.signal.aborted) this.hooks.onError?.(asApiError(err));
    });
    return this;
  }

  /** Stop following (the card went away). */
  stop() {
    this.controller.abort();
  }

  /** Read the SSE stream, reconnecting with Last-Event-ID until a `done` event. */
  async stream() {
    const { signal } = this.controller;
    const path = `/framecast/v1/tasks/${encodeURIComponent(this.taskId)}/events`;
    const parser = new SSEParser((event) => this.onEvent(event));
    let failures = 0;
    this.hooks.onMode?.("live");
    while (!this.finished && !signal.aborted) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (parser.lastEventId !== null) headers["Last-Event-ID"] = parser.lastEventId;
        const response = await this.api.fetch("GET", path, { headers, signal });
        if (response.status === 404 || response.status === 405) {
          await response.body?.cancel();
          if (!(await this.taskExists())) return;   // the task is gone: reported already
          support.events = false;                   // no such endpoint: poll from now on
          return this.poll();
        }
        if (response.status === 401 || response.status === 403) {
          throw new ApiError("the API key was rejected", { status: response.status });
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (this.finished) {
            await reader.cancel();
            break;
          }
        }
      } catch (err) {
        if (signal.aborted || err instanceof ApiError) throw err;
        failures += 1;        // network drop or a 5xx: reconnect below
      }
      parser.end();
      if (this.finished) break;
      const wait = parser.retryMs ?? RECONNECT_MS[Math.min(failures, RECONNECT_MS.length - 1)];
      this.hooks.onMode?.("reconnecting");
      await sleep(wait, signal);
      this.hooks.onMode?.("live");
    }
    return undefined;
  }

  /** One parsed SSE event. */
  onEvent(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;   // not ours; ignore
    }
    if (this.finished) return;   // a terminal status may be followed by its `done` event
    this.hooks.onUpdate?.(data);
    if (event.type === "done" || TERMINAL.has(data.status)) {
      this.finished = true;
      this.finish().catch((err) => this.hooks.onError?.(asApiError(err)));
    }
  }

  /** Does the Ark GET still find the task? Reports the error when it does not. */
  async taskExists() {
    try {
      await this.getTask();
      return true;
    } catch (err) {
      const error = asApiError(err);
      if (error.status === 404) {
        this.hooks.onError?.(error);
        return false;
      }
      throw error;
    }
  }

  /** Poll the Ark GET once a second until the task is terminal. */
  async poll() {
    const { signal } = this.controller;
    this.hooks.onMode?.("polling");
    while (!signal.aborted) {
      let task;
      try {
        task = await this.getTask();
      } catch (err) {
        const error = asApiError(err);
        if (error.status >= 400 && error.status < 500) throw error;
        await sleep(POLL_MS, signal);   // the server restarts, the network blips: try again
        continue;
      }
      this.hooks.onUpdate?.({
        status: task.status, progress: task.progress ?? (task.status === "succeeded" ? 100 : 0),
        step: null, total_steps: null, eta_s: null, error: task.error ?? null,
      });
      if (TERMINAL.has(task.status)) {
        this.finished = true;
        this.hooks.onDone?.(task);
        return;
      }
      await sleep(POLL_MS, signal);
    }
  }

  /** The task is terminal: read the Ark object (signed URLs, engine, seed) once. */
  async finish() {
    const task = await this.getTask();
    this.hooks.onDone?.(task);
  }

  /** `GET /api/v3/contents/generations/tasks/{id}` → the Ark task object. */
  async getTask() {
    const path = `/api/v3/contents/generations/tasks/${encodeURIComponent(this.taskId)}`;
    const { data, response } = await this.api.json("GET", path,
      { signal: this.controller.signal });
    data.engine = data.engine || response.headers.get("X-Framecast-Engine") || undefined;
    const info = response.headers.get("X-Framecast-Engine-Info");   // once it succeeded
    if (info) {
      try { data.engine_info = JSON.parse(info); } catch { /* shown without it */ }
    }
    return data;
  }
}

function asApiError(err) {
  return err instanceof ApiError ? err : new ApiError(String(err?.message || err));
}
