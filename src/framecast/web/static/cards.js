// Result cards: one per task created (or opened) in this page. A video card follows its task
// live (progress bar, step, ETA), then shows the player, the last frame and downloads; an
// image card shows a spinner while the synchronous call runs. Both show the request as
// curl and Python.

import { copyText, formatSeconds, h, replace } from "./dom.js";
import { TaskWatcher } from "./events.js";
import {
  curlSnippet, pythonImageSnippet, pythonVideoSnippet, shortenDataUris,
} from "./snippets.js";

/**
 * The "Code" block: curl and Python tabs, shortened view, full copy.
 * @param {{curl: string, python: string, shortCurl: string, shortPython: string}} code
 */
function codeBlock(code) {
  const pre = h("pre", { class: "code", tabindex: "0" });
  const status = h("span", { class: "muted copy-status", role: "status" });
  let current = "curl";
  const show = (which) => {
    current = which;
    replace(pre, h("code", { text: which === "curl" ? code.shortCurl : code.shortPython }));
    for (const tab of tabs) tab.setAttribute("aria-pressed", String(tab.dataset.which === which));
    status.textContent = "";
  };
  const tabs = ["curl", "Python"].map((label) => h("button", {
    type: "button", class: "chip", text: label, dataset: { which: label.toLowerCase() },
    onClick: () => show(label.toLowerCase()),
  }));
  const copy = h("button", {
    type: "button", class: "chip", text: "Copy",
    onClick: async () => {
      const ok = await copyText(current === "curl" ? code.curl : code.python);
      status.textContent = ok ? "Copied." : "Copy failed: select the text instead.";
    },
  });
  show("curl");
  return h("details", { class: "code-block" },
    h("summary", { text: "Same request: curl and Python" }),
    h("div", { class: "code-tools" }, ...tabs, copy, status),
    pre,
    h("p", {
      class: "hint",
      text: "The key is read from $ARK_API_KEY; long data URIs are shortened here and "
        + "copied in full.",
    }));
}

/** The code of a request the page sent. */
function codeFor(kind, path, body) {
  const origin = location.origin;
  const python = kind === "video" ? pythonVideoSnippet : pythonImageSnippet;
  const short = shortenDataUris(body);
  return {
    curl: curlSnippet(origin, path, body), python: python(origin, body),
    shortCurl: curlSnippet(origin, path, short), shortPython: python(origin, short),
  };
}

/** Common card chrome: header with kind, id, status and a dismiss button. */
class Card {
  constructor({ kind, title, onDismiss }) {
    this.statusEl = h("span", { class: "status", dataset: { status: "queued" } });
    this.idEl = h("code", { class: "task-id", text: title });
    this.body = h("div", { class: "card-body" });
    this.dismiss = h("button", {
      type: "button", class: "icon", text: "×", "aria-label": `Dismiss ${title}`,
      onClick: () => {
        this.close();
        onDismiss?.(this);
      },
    });
    this.root = h("article", { class: `card ${kind}`, "aria-label": title },
      h("header", { class: "card-head" },
        h("span", { class: "kind", text: kind === "video" ? "Video" : "Image" }),
        this.idEl, this.statusEl, this.dismiss),
      this.body);
  }

  /** Show a status name (its color comes from the CSS). */
  setStatus(status) {
    this.statusEl.textContent = status;
    this.statusEl.dataset.status = status;
  }

  /** Take the card off the page. */
  close() {
    this.root.remove();
  }
}

export class VideoCard extends Card {
  /**
   * @param {import("./api.js").Api} api
   * @param {{taskId: string, request?: object, engine?: string, onStatus?: Function,
   *   onDismiss?: Function}} options
   */
  constructor(api, { taskId, request, engine, onStatus, onDismiss }) {
    super({ kind: "video", title: `Task ${taskId}`, onDismiss });
    this.idEl.textContent = taskId;
    this.taskId = taskId;
    this.onStatus = onStatus;
    this.status = "";
    this.steps = null;
    this.bar = h("progress", { max: "100", value: "0", "aria-label": "Progress" });
    this.progressText = h("span", { class: "progress-text", text: "0 %" });
    this.modeEl = h("span", { class: "mode muted" });
    this.meta = h("p", { class: "meta muted" }, engine ? `engine ${engine}` : "");
    this.media = h("div", { class: "media" });
    this.error = h("p", { class: "form-error", role: "alert" });
    append(this.body,
      h("div", { class: "progress-row" }, this.bar, this.progressText, this.modeEl),
      this.meta, this.media, this.error,
      request ? codeBlock(codeFor("video", "/api/v3/contents/generations/tasks", request)) : null);
    this.setStatus("queued");
    this.watcher = new TaskWatcher(api, taskId, {
      onUpdate: (update) => this.update(update),
      onDone: (task) => this.done(task),
      onError: (err) => this.fail(err.describe()),
      onMode: (mode) => {
        this.modeEl.textContent = mode === "polling" ? "· polling every 1 s"
          : mode === "reconnecting" ? "· reconnecting…" : "· live";
      },
    }).start();
  }

  /** A status/progress event (or a poll). */
  update({ status, progress, step, total_steps: total, eta_s: eta, error }) {
    if (status && status !== this.status) {
      this.status = status;
      this.setStatus(status);
      this.onStatus?.(this.taskId, status);
    }
    const percent = status === "succeeded" ? 100
      : Math.max(0, Math.min(100, Number(progress) || 0));
    this.bar.value = percent;
    if (total) this.steps = { step: step ?? 0, total };   // a poll (or the Ark GET) has none
    const parts = [`${Math.round(percent)} %`];
    if (this.steps) parts.push(`step ${this.steps.step} of ${this.steps.total}`);
    if (status === "running" && eta !== null && eta !== undefined) {
      parts.push(`ETA ${formatSeconds(eta)}`);
    }
    this.progressText.textContent = parts.join(" · ");
    if (error?.message) this.error.textContent = `${error.code || "Error"}: ${error.message}`;
  }

  /** The task is terminal: show what it made (or why not). */
  done(task) {
    this.update({ status: task.status, progress: task.progress, error: task.error });
    this.modeEl.textContent = "";
    const facts = [
      task.engine && `engine ${task.engine}`,
      task.seed !== undefined && `seed ${task.seed}`,
      task.resolution && task.ratio && `${task.resolution} · ${task.ratio}`,
      task.duration ? `${task.duration} s` : task.frames && `${task.frames} frames`,
      task.framespersecond && `${task.framespersecond} fps`,
      task.usage?.total_tokens && `${task.usage.total_tokens.toLocaleString()} tokens`,
    ].filter(Boolean);
    replace(this.meta, facts.join(" · "));
    if (task.engine_info) this.meta.after(engineInfo(task.engine_info));
    const videoUrl = task.content?.video_url;
    const lastUrl = task.content?.last_frame_url;
    if (!videoUrl) return;
    const video = h("video", {
      src: videoUrl, controls: true, playsinline: true, preload: "metadata",
      "aria-label": `Video of task ${task.id}`,
    });
    const size = h("span", { class: "muted" });
    video.addEventListener("loadedmetadata", () => {
      size.textContent = `${video.videoWidth}×${video.videoHeight} px · ` +
        `${video.duration.toFixed(2)} s`;
    });
    replace(this.media,
      video,
      h("div", { class: "downloads" },
        h("a", { href: videoUrl, download: `${task.id}.mp4`, class: "button secondary",
          text: "Download video" }),
        lastUrl && h("a", { href: lastUrl, download: `${task.id}-last-frame.png`,
          class: "button secondary", text: "Download last frame" }),
        size),
      lastUrl && h("figure", { class: "last-frame" },
        h("img", { src: lastUrl, alt: `Last frame of task ${task.id}`, loading: "lazy" }),
        h("figcaption", { class: "muted", text: "Last frame" })));
  }

  /** Following failed (task gone, key rejected). */
  fail(message) {
    this.error.textContent = message;
    this.modeEl.textContent = "";
  }

  /** Stop following the task, then take the card off the page. */
  close() {
    this.watcher.stop();
    super.close();
  }
}

/** What the engine reported doing (mode, camera moves, what it could not apply), as a
 * definition list; nested values as compact JSON. */
function engineInfo(info) {
  const show = (value) => (Array.isArray(value) ? value.join(", ")
    : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value));
  const rows = Object.entries(info).filter(([key]) => key !== "engine")
    .flatMap(([key, value]) => [h("dt", { text: key.replaceAll("_", " ") }),
      h("dd", { text: show(value) })]);
  return h("dl", { class: "engine-info muted", "aria-label": "What the engine did" }, ...rows);
}

export class ImageCard extends Card {
  /**
   * @param {{request: object, onDismiss?: Function}} options
   */
  constructor({ request, onDismiss }) {
    const started = new Date().toLocaleTimeString();
    super({ kind: "image", title: `Image ${started}`, onDismiss });
    this.idEl.textContent = started;   // the synchronous API returns no task id
    this.setStatus("running");
    this.spinner = h("div", { class: "spinner-row", role: "status" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      h("span", { text: "Generating image…" }));
    this.media = h("div", { class: "media" }, this.spinner);
    this.meta = h("p", { class: "meta muted" });
    this.error = h("p", { class: "form-error", role: "alert" });
    append(this.body, this.meta, this.media, this.error,
      codeBlock(codeFor("image", "/api/v3/images/generations", request)));
    this.root.setAttribute("aria-busy", "true");
  }

  /** The Seedream response arrived. */
  show(data, engine) {
    this.root.setAttribute("aria-busy", "false");
    this.setStatus("succeeded");
    const item = data.data?.[0] || {};
    const src = item.url || (item.b64_json ? `data:image/png;base64,${item.b64_json}` : "");
    replace(this.meta, [data.model, item.size, engine && `engine ${engine}`,
      data.usage?.total_tokens && `${data.usage.total_tokens.toLocaleString()} tokens`]
      .filter(Boolean).join(" · "));
    replace(this.media,
      h("img", { src, alt: `Generated image (${item.size || "image"})`, class: "result-image" }),
      h("div", { class: "downloads" },
        h("a", { href: src, download: "image.png", class: "button secondary",
          text: "Download image" })));
  }

  /** The call failed. */
  fail(message) {
    this.root.setAttribute("aria-busy", "false");
    this.setStatus("failed");
    replace(this.media);
    this.error.textContent = message;
  }
}

function append(el, ...children) {
  for (const child of children) if (child) el.append(child);
}
