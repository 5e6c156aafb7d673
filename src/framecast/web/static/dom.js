// Small DOM helpers. Everything the page renders goes through `h()`, which only ever sets
// text with `textContent` / text nodes and checks URLs before they reach `src`/`href`:
// task data (prompts, error messages, ids) is never parsed as HTML.

/**
 * Create an element.
 * @param {string} tag
 * @param {Object<string, any>} [attrs] attributes; `class`, `text`, `on<Event>` and
 *   `dataset` are handled specially; `false`/`null`/`undefined` values are left out.
 * @param {...(Node|string|number|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "src" || name === "href") {
      const url = safeUrl(value);
      if (url) el.setAttribute(name, url);
    } else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (strings become text nodes; empty values are skipped). */
export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child of `el`. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

/**
 * A URL that may go into `src`/`href`: http(s) and blob URLs, relative paths of this
 * origin, and image data URIs. Anything else (`javascript:`, other data URIs) gives null.
 * @param {string} value
 * @returns {string|null}
 */
export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  if (/^data:image\/[a-z0-9.+-]+;base64,/i.test(value)) return value;
  try {
    const url = new URL(value, location.href);
    return ["http:", "https:", "blob:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** Resolve after `ms` milliseconds, or reject when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/** "1.2 MB" */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** "3 s", "2 min 5 s", "1 h 4 min" */
export function formatSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "";
  const total = Math.max(0, Math.round(s));
  if (total < 60) return `${total} s`;
  if (total < 3600) return `${Math.floor(total / 60)} min ${total % 60} s`;
  return `${Math.floor(total / 3600)} h ${Math.floor((total % 3600) / 60)} min`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "5 minutes ago" for a Unix time in seconds. */
export function formatAgo(unixSeconds) {
  const diff = unixSeconds - Date.now() / 1000;
  const steps = [[60, "second"], [3600, "minute"], [86400, "hour"], [Infinity, "day"]];
  let unit = 1;
  for (const [limit, name] of steps) {
    if (Math.abs(diff) < limit) return relative.format(Math.round(diff / unit), name);
    unit = limit;
  }
  return "";
}

/** Copy text to the clipboard; resolves to whether it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;   // no clipboard permission (e.g. plain http on a LAN address)
  }
}
