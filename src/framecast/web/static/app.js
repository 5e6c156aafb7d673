// The Framecast playground: wires the key form, the create forms, the result cards and the
// history. Modules (no bundler): api.js (HTTP + key), events.js (SSE + polling),
// forms.js / slots.js (requests), cards.js (results), gallery.js (history),
// snippets.js (curl / Python), dom.js (safe DOM building).

import { Api, ApiError } from "./api.js";
import { ImageCard, VideoCard } from "./cards.js";
import {
  IMAGE_PATH, ImageForm, VIDEO_PATH, VideoForm, describeModel, loadModels,
} from "./forms.js";
import { Gallery, probeKill } from "./gallery.js";

const ENGINE_HEADER = "X-Framecast-Engine";
const SAVED_PLACEHOLDER = "saved (type a new key to replace it)";

const api = new Api();
const $ = (id) => document.getElementById(id);
const results = $("results-list");
let models = new Map();

// -- the key ---------------------------------------------------------------------------

function keyStatus(state, text) {
  const el = $("key-status");
  el.dataset.state = state;
  el.textContent = text;
}

/** Check the key against the list endpoint; update the status line. */
async function verifyKey() {
  if (!api.key) {
    keyStatus("none", "No key yet: enter the key printed by `framecast serve`.");
    return false;
  }
  try {
    await api.json("GET", `${VIDEO_PATH}?page_num=1&page_size=1`);
    keyStatus("ok", "Key accepted (kept in this browser).");
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      keyStatus("bad", "Key rejected by the server.");
    } else {
      keyStatus("bad", err instanceof ApiError ? err.describe() : String(err));
    }
    return false;
  }
}

api.onUnauthorized.push(() => keyStatus("bad", "Key rejected by the server."));

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = $("api-key").value.trim();
  if (!value) return;
  api.setKey(value);
  $("api-key").value = "";
  $("api-key").placeholder = SAVED_PLACEHOLDER;
  if (await verifyKey()) await start();
});

$("key-forget").addEventListener("click", () => {
  api.setKey("");
  $("api-key").placeholder = "fc-…";
  keyStatus("none", "Key forgotten.");
  gallery.load();
});

// -- tabs ---------------------------------------------------------------------------------

const tabs = [...document.querySelectorAll("[role=tab]")];

function selectTab(tab) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
}

for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {   // arrow keys move between tabs
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    next.focus();
    selectTab(next);
  });
}

// -- results ------------------------------------------------------------------------------

function showCard(card) {
  $("results-empty").hidden = true;
  results.prepend(card.root);
  card.root.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function onDismiss() {
  $("results-empty").hidden = results.children.length > 0;
}

/** Follow a video task in a result card (created here, or opened from the history). */
function followTask(taskId, { request, engine } = {}) {
  const existing = [...results.children].find((el) => el.dataset.taskId === taskId);
  if (existing) {
    existing.scrollIntoView({ block: "nearest", behavior: "smooth" });
    return;
  }
  const card = new VideoCard(api, {
    taskId, request, engine, onDismiss,
    onStatus: () => gallery.load(),   // the history shows the new status at once
  });
  card.root.dataset.taskId = taskId;
  showCard(card);
}

// -- create a video -----------------------------------------------------------------------

const videoForm = new VideoForm();

/** Show what serves the chosen video model and adapt the form to its limits. */
function onVideoModel() {
  const name = $("video-model").value.trim();
  $("video-model-hint").textContent = describeModel(models, name);
  videoForm.applyModel(models.get(name) || null);
}
$("video-model").addEventListener("input", onVideoModel);

videoForm.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = videoForm.validate();
  $("video-error").textContent = problem;
  if (problem) {
    videoForm.form.reportValidity();
    return;
  }
  const body = videoForm.body();
  const button = $("video-submit");
  button.disabled = true;
  button.textContent = "Creating…";
  try {
    const { data, response } = await api.json("POST", VIDEO_PATH, { body });
    followTask(data.id, { request: body, engine: response.headers.get(ENGINE_HEADER) });
    gallery.load(1);
  } catch (err) {
    $("video-error").textContent = err instanceof ApiError ? err.describe() : String(err);
  } finally {
    button.disabled = false;
    button.textContent = "Generate video";
  }
});

// -- create an image ----------------------------------------------------------------------

const imageForm = new ImageForm();
$("image-model").addEventListener("input", () => {
  $("image-model-hint").textContent = describeModel(models, $("image-model").value.trim());
});

imageForm.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = imageForm.validate();
  $("image-error").textContent = problem;
  if (problem) {
    imageForm.form.reportValidity();
    return;
  }
  const body = imageForm.body();
  const card = new ImageCard({ request: body, onDismiss });
  showCard(card);
  const button = $("image-submit");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const { data, response } = await api.json("POST", IMAGE_PATH, { body });
    card.show(data, response.headers.get(ENGINE_HEADER));
  } catch (err) {
    card.fail(err instanceof ApiError ? err.describe() : String(err));
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
});

// -- history ------------------------------------------------------------------------------

const gallery = new Gallery(api, {
  onOpen: (task) => followTask(task.id, { engine: task.engine }),
});

/** Load what needs the key: models, kill support, history. */
async function start() {
  const [byName, canKill] = await Promise.all([loadModels(api), probeKill(api)]);
  models = byName;
  gallery.canKill = canKill;
  onVideoModel();
  $("image-model-hint").textContent = describeModel(models, $("image-model").value.trim());
  await gallery.load(1);
}

if (api.key) {
  $("api-key").placeholder = SAVED_PLACEHOLDER;
  verifyKey();
}
start();
