// The two create forms. Each turns its fields into the exact Ark request body (top-level
// fields, the vendor's key order) after checking the vendor's limits in the browser, so a
// mistake is shown next to the field instead of as a 400 from the server.

import { h, replace } from "./dom.js";
import { ImageSlot } from "./slots.js";

export const VIDEO_PATH = "/api/v3/contents/generations/tasks";
export const IMAGE_PATH = "/api/v3/images/generations";

// Used when the server has no `GET /framecast/v1/models`: the vendors' own ids.
const BUILTIN_VIDEO_MODELS = [
  "seedance-1-0-pro-250528", "seedance-1-0-pro-fast-251015", "seedance-1-0-lite-i2v-250428",
  "seedance-1-0-lite-t2v-250428", "seedance-1-5-pro-251215", "dreamina-seedance-2-0-260128",
  "dreamina-seedance-2-0-fast-260128", "doubao-seedance-1-0-pro-250528",
  "doubao-seedance-1-5-pro-251215", "doubao-seedance-2-0-260128",
];
const BUILTIN_IMAGE_MODELS = [
  "seedream-3-0-t2i-250415", "seedream-4-0-250828", "seedream-4-5-251128",
  "seedream-5-0-260128", "seededit-3-0-i2i-250628", "doubao-seedream-3-0-t2i-250415",
  "doubao-seedream-4-0-250828",
];
const PREFERRED_VIDEO = /seedance-1-0-pro(-\d+)?$/;
const PREFERRED_IMAGE = /seedream-3-0-t2i(-\d+)?$/;
const SEED_MAX = 4294967295;
const IMAGE_SEED_MAX = 2147483647;

/** `$(id)` for the form fields. */
const field = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/**
 * Fill the model pickers from `GET /framecast/v1/models`, or the built-in ids (404).
 * @param {import("./api.js").Api} api
 * @returns {Promise<Map<string, object>>} model id/alias → model entry (empty when built-in)
 */
export async function loadModels(api) {
  const byName = new Map();
  let video = BUILTIN_VIDEO_MODELS.map((id) => ({ id, kind: "video" }));
  let image = BUILTIN_IMAGE_MODELS.map((id) => ({ id, kind: "image" }));
  try {
    if (!api.key) throw new Error("no key yet");
    const { data } = await api.json("GET", "/framecast/v1/models");
    const models = Array.isArray(data?.data) ? data.data : [];
    if (models.length) {
      video = models.filter((m) => m.kind === "video");
      image = models.filter((m) => m.kind === "image");
      for (const m of models) for (const name of [m.id, ...(m.aliases || [])]) byName.set(name, m);
    }
  } catch {
    // no models endpoint (or no key yet): the built-in ids
  }
  fillModels("video-models", "video-model", video, PREFERRED_VIDEO);
  fillModels("image-models", "image-model", image, PREFERRED_IMAGE);
  return byName;
}

function fillModels(listId, inputId, models, preferred) {
  replace(field(listId), ...models.map((m) => h("option", {
    value: m.id,
    label: [m.engine, m.weights_present === false && "weights missing"].filter(Boolean)
      .join(" · ") || false,
  })));
  const input = field(inputId);
  if (!input.value && models.length) {
    const pick = models.find((m) => preferred.test(m.id)
      || (m.aliases || []).some((a) => preferred.test(a))) || models[0];
    input.value = pick.id;
  }
}

/** "engine motion · weights present" under a model field, when the server told us. */
export function describeModel(models, name) {
  const entry = models.get(name);
  if (!entry) return "";
  const parts = [`engine ${entry.engine}`];
  if (entry.weights_present === false) parts.push("weights missing");
  if (entry.id !== name) parts.push(`alias of ${entry.id}`);
  return parts.join(" · ");
}

/** Integer value of a number field, or NaN. */
function intValue(id) {
  const text = field(id).value.trim();
  return /^-?\d+$/.test(text) ? Number(text) : NaN;
}

/** Set (or clear) a field's custom error; returns whether the field is fine. */
function check(el, ok, message) {
  el.setCustomValidity(ok ? "" : message);
  return ok;
}

/** A field's custom error stays until the user edits that field (checked again on submit). */
function clearErrorsOnEdit(form) {
  form.addEventListener("input", (event) => event.target.setCustomValidity?.(""));
}

export class VideoForm {
  constructor() {
    this.form = /** @type {HTMLFormElement} */ (document.getElementById("video-form"));
    clearErrorsOnEdit(this.form);
    const onChange = () => this.applyRules();
    this.first = new ImageSlot(
      { role: "first_frame", title: "First frame", noun: "first frame", max: 1 }, onChange);
    this.last = new ImageSlot(
      { role: "last_frame", title: "Last frame", noun: "last frame", max: 1 }, onChange);
    this.refs = new ImageSlot({
      role: "reference_image", title: "Reference images", noun: "reference image", max: 4,
    }, onChange);
    replace(field("video-slots"), this.first.root, this.last.root, this.refs.root);
    for (const radio of this.form.querySelectorAll("input[name=length]")) {
      radio.addEventListener("change", () => this.applyLength());
    }
    field("video-resolution").addEventListener("change", () => this.applyRules());
    /** @type {{roles: Set<string>|null, resolutions: string[]|null}} the model's limits */
    this.limits = { roles: null, resolutions: null };
    this.applyLength();
    this.applyRules();
  }

  /**
   * Adapt the form to a model entry of `GET /framecast/v1/models` (null: unknown model, no
   * limits): its resolutions, its default resolution and the image roles its engine takes.
   */
  applyModel(entry) {
    const caps = entry?.capabilities || {};
    const resolutions = caps.resolutions || entry?.resolutions;
    this.limits = {
      roles: Array.isArray(caps.roles) ? new Set(caps.roles) : null,
      resolutions: Array.isArray(resolutions) ? resolutions : null,
    };
    const select = /** @type {HTMLSelectElement} */ (field("video-resolution"));
    select.options[0].textContent = entry?.default_resolution
      ? `Model default (${entry.default_resolution})` : "Model default";
    this.applyRules();
  }

  /** Duration XOR frames: only the chosen one is editable and sent. */
  applyLength() {
    const frames = field("length-frames").checked;
    field("video-duration").disabled = frames;
    field("video-frames").disabled = !frames;
  }

  /**
   * The role rules (references exclude first/last; a last frame needs a first frame; at most
   * 4 references; no 1080p with references) and the chosen model's limits.
   */
  applyRules() {
    const hasFirst = this.first.images.length > 0;
    const hasLast = this.last.images.length > 0;
    const refCount = this.refs.images.length;
    const { roles, resolutions } = this.limits;
    const takes = (role) => !roles || roles.has(role);
    const notTaken = "This model does not take this kind of image.";
    this.first.setEnabled(takes("first_frame") && refCount === 0, !takes("first_frame")
      ? notTaken : "Reference images exclude a first frame.");
    this.last.setEnabled(takes("last_frame") && refCount === 0 && hasFirst,
      !takes("last_frame") ? notTaken : refCount ? "Reference images exclude a last frame."
        : "Add a first frame before a last frame.");
    this.refs.setEnabled(takes("reference_image") && !hasFirst && !hasLast && refCount < 4,
      !takes("reference_image") ? notTaken : hasFirst || hasLast
        ? "Reference images cannot be combined with a first or last frame."
        : "At most 4 reference images.");
    if (hasLast && !hasFirst) this.last.say("A last frame needs a first frame.");
    const select = /** @type {HTMLSelectElement} */ (field("video-resolution"));
    for (const option of select.options) {
      if (!option.value) continue;
      option.disabled = (resolutions !== null && !resolutions.includes(option.value))
        || (option.value === "1080p" && refCount > 0);   // reference mode has no 1080p
    }
    if (select.selectedOptions[0]?.disabled) select.value = "";
  }

  /** Check every field; returns an error message or "" (and marks the fields). */
  validate() {
    const problems = [];
    const mark = (id, ok, message) => {
      if (!check(field(id), ok, message)) problems.push(message);
    };
    mark("video-model", field("video-model").value.trim() !== "", "Choose a model.");
    const images = this.first.images.length + this.last.images.length + this.refs.images.length;
    mark("video-prompt", field("video-prompt").value.trim() !== "" || images > 0,
      "Write a prompt or add an image.");
    if (this.last.images.length && !this.first.images.length) {
      problems.push("A last frame needs a first frame.");
    }
    if (this.refs.images.length && (this.first.images.length || this.last.images.length)) {
      problems.push("Reference images cannot be combined with a first or last frame.");
    }
    mark("video-resolution", !(this.refs.images.length && field("video-resolution").value
      === "1080p"), "Reference-image mode does not support 1080p.");
    const roles = this.limits.roles;
    const refused = [this.first, this.last, this.refs]
      .filter((slot) => slot.images.length && roles && !roles.has(slot.role));
    if (refused.length) {
      const nouns = refused.map((slot) => slot.noun).join(" or ");
      problems.push(`This model does not take ${nouns} images.`);
    }
    if (field("length-frames").checked) {
      const frames = intValue("video-frames");
      mark("video-frames", frames >= 29 && frames <= 289 && (frames - 25) % 4 === 0,
        "Frames must be 25 + 4n between 29 and 289.");
    } else {
      const duration = intValue("video-duration");
      mark("video-duration", duration >= 2 && duration <= 12,
        "Duration must be a whole number of seconds from 2 to 12.");
    }
    const seed = intValue("video-seed");
    mark("video-seed", seed >= -1 && seed <= SEED_MAX, `Seed must be −1 … ${SEED_MAX}.`);
    const expires = intValue("video-expires");
    mark("video-expires", expires >= 3600 && expires <= 259200,
      "Expires after must be 3600–259200 seconds.");
    return problems.join(" ");
  }

  /** The Ark create body (top-level fields, the SDK's key order). */
  body() {
    const prompt = field("video-prompt").value.trim();
    const content = [];
    if (prompt) content.push({ type: "text", text: prompt });
    content.push(...this.first.contentItems(), ...this.last.contentItems(),
      ...this.refs.contentItems());
    const body = {
      model: field("video-model").value.trim(),
      content,
      return_last_frame: field("video-last-frame").checked,
      service_tier: field("video-tier").value,
      execution_expires_after: intValue("video-expires"),
      generate_audio: field("video-audio").checked,
      camera_fixed: field("video-camera-fixed").checked,
      watermark: field("video-watermark").checked,
      seed: intValue("video-seed"),
    };
    if (field("video-resolution").value) body.resolution = field("video-resolution").value;
    if (field("video-ratio").value) body.ratio = field("video-ratio").value;
    if (field("length-frames").checked) body.frames = intValue("video-frames");
    else body.duration = intValue("video-duration");
    return body;
  }
}

export class ImageForm {
  constructor() {
    this.form = /** @type {HTMLFormElement} */ (document.getElementById("image-form"));
    clearErrorsOnEdit(this.form);
  }

  /** Check every field; returns an error message or "". */
  validate() {
    const problems = [];
    const mark = (id, ok, message) => {
      if (!check(field(id), ok, message)) problems.push(message);
    };
    mark("image-model", field("image-model").value.trim() !== "", "Choose a model.");
    mark("image-prompt", field("image-prompt").value.trim() !== "", "Write a prompt.");
    const size = field("image-size").value.trim();
    const match = /^(\d+)\s*[xX*]\s*(\d+)$/.exec(size);
    const sidesOk = match && [match[1], match[2]].every((s) => s >= 256 && s <= 4096);
    mark("image-size", size === "" || /^[124]k$/i.test(size) || Boolean(sidesOk),
      "Size must be WxH with sides 256–4096, or 1K, 2K or 4K.");
    const seed = intValue("image-seed");
    mark("image-seed", seed >= -1 && seed <= IMAGE_SEED_MAX,
      `Seed must be −1 … ${IMAGE_SEED_MAX}.`);
    const guidance = field("image-guidance").value.trim();
    mark("image-guidance", guidance === "" || (Number(guidance) >= 1 && Number(guidance) <= 10),
      "Guidance scale must be between 1 and 10.");
    return problems.join(" ");
  }

  /** The Seedream request body. */
  body() {
    const body = {
      model: field("image-model").value.trim(),
      prompt: field("image-prompt").value.trim(),
    };
    const size = field("image-size").value.trim().replace(/\s+/g, "");
    if (size) body.size = size.toUpperCase().endsWith("K") ? size.toUpperCase() : size;
    body.seed = intValue("image-seed");
    const guidance = field("image-guidance").value.trim();
    if (guidance) body.guidance_scale = Number(guidance);
    body.watermark = field("image-watermark").checked;
    return body;
  }
}
