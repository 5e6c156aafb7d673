// Input-image slots of the video form: drag-and-drop, file picker or URL; files become
// `data:image/...;base64,` URIs. Each slot shows thumbnails and can be disabled by the role
// rules (references exclude first/last frames; a last frame needs a first frame).

import { formatBytes, h, replace } from "./dom.js";

const MAX_FILE_BYTES = 30 * 1024 * 1024;   // the vendor's input image limit
const MIN_SIDE_PX = 300;                   // the vendor's "short side > 300 px"

/**
 * @typedef {{url: string, name: string, width?: number, height?: number, bytes?: number}} SlotImage
 */

export class ImageSlot {
  /**
   * @param {{role: string, title: string, noun: string, max: number}} config
   * @param {() => void} onChange called whenever the images change
   */
  constructor({ role, title, noun, max }, onChange) {
    this.role = role;
    this.noun = noun;
    this.max = max;
    this.onChange = onChange;
    /** @type {SlotImage[]} */
    this.images = [];
    this.enabled = true;
    this.build(title);
  }

  /** The slot's markup (a fieldset with a drop zone, a URL row and thumbnails). */
  build(title) {
    const id = `slot-${this.role}`;
    this.fileInput = h("input", {
      type: "file", accept: "image/*", hidden: true, multiple: this.max > 1,
      "aria-label": `${title} file`, onChange: () => {
        this.addFiles([...this.fileInput.files]);
        this.fileInput.value = "";
      },
    });
    this.pickButton = h("button", {
      type: "button", class: "secondary",
      text: this.max > 1 ? `Choose ${this.noun}s` : `Choose ${this.noun}`,
      onClick: () => this.fileInput.click(),
    });
    this.drop = h("div", { class: "drop" },
      h("span", { class: "drop-hint", text: "Drop an image here, or" }), this.pickButton,
      this.fileInput);
    this.urlInput = h("input", {
      id: `${id}-url`, type: "url", inputmode: "url", placeholder: "https://… or data:image/…",
      autocomplete: "off", onKeydown: (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          this.addUrl();
        }
      },
    });
    this.addButton = h("button", {
      type: "button", class: "secondary", text: "Add", "aria-label": `Add ${this.noun} URL`,
      onClick: () => this.addUrl(),
    });
    this.thumbs = h("ul", { class: "thumbs", "aria-label": `${title} chosen` });
    this.note = h("p", { class: "slot-note", "aria-live": "polite" });
    this.root = h("fieldset", { class: "slot", id },
      h("legend", { text: this.max > 1 ? `${title} (1–${this.max})` : title }),
      this.drop,
      h("div", { class: "url-row" },
        h("label", { for: `${id}-url`, text: `${title.replace(/s$/, "")} URL` }),
        h("div", { class: "inline" }, this.urlInput, this.addButton)),
      this.thumbs, this.note);
    this.bindDrop();
  }

  /** Drag-and-drop of files or of a link (e.g. an image dragged from another tab). */
  bindDrop() {
    const zone = this.drop;
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = this.enabled ? "copy" : "none";
      zone.classList.toggle("over", this.enabled);
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      if (!this.enabled || !event.dataTransfer) return;
      const files = [...event.dataTransfer.files];
      if (files.length) return this.addFiles(files);
      const link = event.dataTransfer.getData("text/uri-list").split("\n")
        .find((line) => line && !line.startsWith("#"));
      if (link) this.addImage({ url: link.trim(), name: link.trim() });
      return undefined;
    });
  }

  /** Add files (read as data URIs). */
  async addFiles(files) {
    for (const file of files) {
      if (!file.type.startsWith("image/")) {
        this.say(`${file.name} is not an image.`);
        continue;
      }
      if (file.size > MAX_FILE_BYTES) {
        this.say(`${file.name} is ${formatBytes(file.size)}; at most 30 MB is accepted.`);
        continue;
      }
      const url = await readAsDataUrl(file);
      await this.addImage({ url, name: file.name, bytes: file.size });
    }
  }

  /** Add the URL typed in the URL field. */
  addUrl() {
    const url = this.urlInput.value.trim();
    if (!url) return;
    if (!/^(https?:\/\/|data:image\/)/i.test(url)) {
      this.say("Use an http(s) URL or a data:image/… URI.");
      return;
    }
    this.urlInput.value = "";
    this.addImage({ url, name: url });
  }

  /** Add one image (a single-image slot replaces what it held). */
  async addImage(image) {
    if (!this.enabled) return;
    if (this.images.length >= this.max && this.max > 1) {
      this.say(`At most ${this.max} ${this.noun}s.`);
      return;
    }
    const size = await measure(image.url);
    Object.assign(image, size);
    this.images = this.max === 1 ? [image] : [...this.images, image];
    this.say(size && Math.min(size.width, size.height) < MIN_SIDE_PX
      ? `Note: ${size.width}×${size.height} px is under the ${MIN_SIDE_PX} px minimum side.`
      : "");
    this.render();
    this.onChange();
  }

  /** Remove image `index`. */
  remove(index) {
    this.images = this.images.filter((_, i) => i !== index);
    this.say("");
    this.render();
    this.onChange();
  }

  /** Draw the thumbnails. */
  render() {
    replace(this.thumbs, ...this.images.map((image, index) => {
      const label = this.max > 1 ? `${this.noun} ${index + 1}` : this.noun;
      const detail = [image.width && `${image.width}×${image.height}`,
        image.bytes && formatBytes(image.bytes)].filter(Boolean).join(" · ");
      return h("li", { class: "thumb" },
        h("img", { src: image.url, alt: `${capitalise(label)}: ${shortName(image.name)}` }),
        h("span", { class: "thumb-name", title: image.name, text: shortName(image.name) }),
        detail && h("span", { class: "thumb-detail", text: detail }),
        h("button", {
          type: "button", class: "icon", "aria-label": `Remove ${label}`, text: "×",
          onClick: () => this.remove(index),
        }));
    }));
  }

  /**
   * Allow or refuse new images; `reason` explains a refusal. Images already chosen stay
   * (so a rule conflict is visible and the user decides what to remove).
   */
  setEnabled(enabled, reason = "") {
    this.enabled = enabled;
    for (const el of [this.pickButton, this.urlInput, this.addButton]) el.disabled = !enabled;
    this.root.classList.toggle("disabled", !enabled);
    this.drop.setAttribute("aria-disabled", String(!enabled));
    if (!enabled && reason) this.say(reason);
    else if (enabled && this.note.dataset.rule) this.say("");
    this.note.dataset.rule = enabled ? "" : "1";
  }

  /** Set the slot's note. */
  say(text) {
    this.note.textContent = text;
  }

  /** Content items of this slot for the Ark request. */
  contentItems() {
    return this.images.map((image) => ({
      type: "image_url", image_url: { url: image.url }, role: this.role,
    }));
  }
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** The natural size of an image URL (null when the browser cannot load it). */
function measure(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => resolve(null);
    img.src = url;
  });
}

function shortName(name) {
  if (name.startsWith("data:")) return name.slice(0, name.indexOf(";")) || "data URI";
  const tail = name.split(/[\\/]/).filter(Boolean).pop() || name;
  return tail.length > 40 ? `${tail.slice(0, 37)}…` : tail;
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
