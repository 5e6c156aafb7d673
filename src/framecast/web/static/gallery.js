// The history: the caller's video tasks from the Ark list endpoint, newest first, paged,
// with cancel (queued), kill (running, when the server has the endpoint), delete (finished)
// and download. Image generations are synchronous and not listed by the Ark API.

import { ApiError } from "./api.js";
import { formatAgo, h, replace } from "./dom.js";
import { TERMINAL } from "./events.js";

const LIST_PATH = "/api/v3/contents/generations/tasks";
const PAGE_SIZE = 6;
const REFRESH_MS = 3000;          // while a listed task is still queued or running
const DELETABLE = new Set(["succeeded", "failed", "expired"]);

/** Does the server have `POST /framecast/v1/tasks/{id}/cancel`? GET on it answers 405 if so. */
export async function probeKill(api) {
  try {
    const response = await api.fetch("GET", "/framecast/v1/tasks/probe/cancel");
    return response.status === 405;
  } catch {
    return false;
  }
}

export class Gallery {
  /**
   * @param {import("./api.js").Api} api
   * @param {{onOpen: (task: object) => void}} hooks
   */
  constructor(api, { onOpen }) {
    this.api = api;
    this.onOpen = onOpen;
    this.page = 1;
    this.total = 0;
    this.canKill = false;
    this.timer = 0;
    this.seq = 0;                 // only the newest of overlapping loads draws
    this.notice = "";             // the outcome of the last action, kept across refreshes
    this.list = document.getElementById("history-list");
    this.status = document.getElementById("history-status");
    this.pageLabel = document.getElementById("history-page");
    this.newer = document.getElementById("history-newer");
    this.older = document.getElementById("history-older");
    const browse = (page) => {
      this.notice = "";
      this.load(page);
    };
    this.newer.addEventListener("click", () => browse(this.page - 1));
    this.older.addEventListener("click", () => browse(this.page + 1));
    document.getElementById("history-refresh").addEventListener("click", () => browse());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.load();
    });
  }

  /** Load page `page` (default: the current one) and draw it. */
  async load(page = this.page) {
    clearTimeout(this.timer);
    if (!this.api.key) {
      replace(this.list);
      this.status.textContent = "Enter your API key to see your tasks.";
      this.pageLabel.textContent = "";
      this.newer.disabled = this.older.disabled = true;
      return;
    }
    const seq = ++this.seq;
    try {
      const query = new URLSearchParams({ page_num: String(page), page_size: String(PAGE_SIZE) });
      const { data } = await this.api.json("GET", `${LIST_PATH}?${query}`);
      if (seq !== this.seq) return;
      const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
      if (page > pages && data.total > 0) {
        await this.load(pages);   // the last page emptied
        return;
      }
      this.page = page;
      this.total = data.total;
      this.render(data.items || [], pages);
    } catch (err) {
      if (seq === this.seq) {
        this.status.textContent = err instanceof ApiError ? err.describe() : String(err);
      }
    }
  }

  /** Draw a page of tasks. */
  render(items, pages) {
    replace(this.list, ...items.map((task) => h("li", {}, this.item(task))));
    this.status.textContent = this.notice || (this.total ? "" : "No video tasks yet.");
    this.pageLabel.textContent = this.total
      ? `Page ${this.page} of ${pages} · ${this.total} task${this.total === 1 ? "" : "s"}` : "";
    this.newer.disabled = this.page <= 1;
    this.older.disabled = this.page >= pages;
    if (items.some((task) => !TERMINAL.has(task.status)) && !document.hidden) {
      this.timer = setTimeout(() => this.load(), REFRESH_MS);
    }
  }

  /** One task of the history. */
  item(task) {
    const length = task.frames ? `${task.frames} frames`
      : task.duration ? `${task.duration} s` : "";
    const size = h("span", { class: "px" });
    const facts = [
      task.model,
      task.engine && `engine ${task.engine}`,
      [length, task.framespersecond && `${task.framespersecond} fps`].filter(Boolean).join(" @ "),
      task.seed !== undefined && task.seed !== null && `seed ${task.seed}`,
      [task.resolution, task.ratio].filter(Boolean).join(" · "),
    ].filter(Boolean);
    const videoUrl = task.content?.video_url;
    let preview = null;
    if (videoUrl) {
      preview = h("video", {
        src: videoUrl, muted: true, preload: "metadata", playsinline: true, controls: true,
        "aria-label": `Preview of task ${task.id}`,
      });
      preview.addEventListener("loadedmetadata", () => {
        size.textContent = `${preview.videoWidth}×${preview.videoHeight} px`;
        // metadata alone draws nothing: a tiny seek decodes the first frame as a poster
        if (preview.currentTime === 0) preview.currentTime = 0.001;
      }, { once: true });
    }
    const progress = task.status === "running" || task.status === "queued"
      ? h("progress", { max: "100", value: String(task.progress || 0), "aria-label": "Progress" })
      : null;
    return h("article", { class: "tile", "aria-label": `Task ${task.id}` },
      h("header", { class: "card-head" },
        h("span", { class: "status", dataset: { status: task.status }, text: task.status }),
        h("code", { class: "task-id", title: task.id, text: task.id }),
        h("span", { class: "muted when", text: formatAgo(task.created_at) })),
      preview,
      progress,
      h("p", { class: "meta muted" }, facts.join(" · "), " ", size),
      task.error?.message && h("p", {
        class: "form-error", text: `${task.error.code}: ${task.error.message}`,
      }),
      h("div", { class: "tile-actions" }, ...this.actions(task)));
  }

  /** The buttons a task's status allows. */
  actions(task) {
    const buttons = [h("button", {
      type: "button", class: "chip", text: "Open", "aria-label": `Open task ${task.id}`,
      onClick: () => this.onOpen(task),
    })];
    if (task.status === "queued") {
      buttons.push(this.button("Cancel", task, () => this.remove(task, "cancel")));
    }
    if (task.status === "running" && this.canKill) {
      buttons.push(this.button("Kill", task, () => this.kill(task)));
    }
    if (DELETABLE.has(task.status)) {
      buttons.push(this.button("Delete", task, () => this.remove(task, "delete")));
    }
    if (task.content?.video_url) {
      buttons.push(h("a", {
        href: task.content.video_url, download: `${task.id}.mp4`, class: "chip",
        text: "Download", "aria-label": `Download task ${task.id}`,
      }));
    }
    return buttons;
  }

  button(label, task, action) {
    return h("button", {
      type: "button", class: `chip ${label.toLowerCase()}`, text: label,
      "aria-label": `${label} task ${task.id}`,
      onClick: async (event) => {
        event.currentTarget.disabled = true;
        try {
          this.notice = await action() || "";
        } catch (err) {
          this.notice = err instanceof ApiError ? err.describe() : String(err);
        }
        await this.load();
      },
    });
  }

  /** Ark DELETE: cancels a queued task, deletes a finished one; returns what happened. */
  async remove(task, what) {
    if (what === "delete" && !window.confirm(`Delete task ${task.id} and its files?`)) return "";
    await this.api.json("DELETE", `${LIST_PATH}/${encodeURIComponent(task.id)}`, { body: {} });
    return what === "delete" ? `Deleted ${task.id}.` : `Cancelled ${task.id}.`;
  }

  /** Kill a running task (Framecast's own endpoint); returns what happened. */
  async kill(task) {
    try {
      await this.api.json("POST", `/framecast/v1/tasks/${encodeURIComponent(task.id)}/cancel`);
      return `Kill requested for ${task.id}.`;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 405 ||
          (err.status === 404 && err.message === "Not Found"))) {
        this.canKill = false;   // the route is gone (an older server answered)
      }
      throw err;
    }
  }
}
