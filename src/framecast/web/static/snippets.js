// The equivalent curl and Python SDK calls of a request the page sent. The key is written as
// `$ARK_API_KEY` / `os.environ["ARK_API_KEY"]`, never the real one. Data URIs (uploaded
// files) make these long, so the page shows them shortened and copies them in full.

const DATA_URI_SHOWN = 48;   // characters of a data URI kept in the shortened view

/**
 * A deep copy of `value` with every long `data:` URI shortened for display.
 * @param {any} value
 */
export function shortenDataUris(value) {
  if (typeof value === "string") {
    if (!value.startsWith("data:") || value.length <= DATA_URI_SHOWN * 2) return value;
    const kb = Math.round((value.length * 3) / 4 / 1024);
    return `${value.slice(0, DATA_URI_SHOWN)}…[${kb} KB of base64 not shown]`;
  }
  if (Array.isArray(value)) return value.map(shortenDataUris);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shortenDataUris(v)]));
  }
  return value;
}

/** Quote `text` for a POSIX shell, in single quotes. */
function shellQuote(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * `curl` for a JSON POST.
 * @param {string} origin e.g. "http://127.0.0.1:8000"
 * @param {string} path e.g. "/api/v3/contents/generations/tasks"
 * @param {object} body
 */
export function curlSnippet(origin, path, body) {
  return [
    `curl -sS ${shellQuote(origin + path)} \\`,
    `  -H "Authorization: Bearer $ARK_API_KEY" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(JSON.stringify(body, null, 2))}`,
  ].join("\n");
}

/**
 * A Python literal for a JSON value (True/False/None; JSON string escapes are valid Python).
 * @param {any} value
 * @param {number} indent the current indentation, in spaces
 */
export function pythonLiteral(value, indent = 0) {
  const pad = " ".repeat(indent + 4);
  const end = " ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    const items = value.map((v) => `${pad}${pythonLiteral(v, indent + 4)},`);
    return `[\n${items.join("\n")}\n${end}]`;
  }
  const entries = Object.entries(value);
  const flat = entries.every(([, v]) => v === null || typeof v !== "object");
  if (flat) {   // small dicts such as {"type": "text", "text": "..."} stay on one line
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pythonLiteral(v)}`).join(", ")}}`;
  }
  const items = entries
    .map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonLiteral(v, indent + 4)},`);
  return `{\n${items.join("\n")}\n${end}}`;
}

/** `name=value,` keyword arguments, one a line, indented by 4. */
function keywordArguments(body) {
  return Object.entries(body)
    .map(([name, value]) => `    ${name}=${pythonLiteral(value, 4)},`)
    .join("\n");
}

function pythonHeader(origin, modules = ["os"]) {
  return [
    ...modules.map((name) => `import ${name}`),
    "",
    "from volcenginesdkarkruntime import Ark",
    "",
    `client = Ark(base_url=${JSON.stringify(`${origin}/api/v3`)}, ` +
      `api_key=os.environ["ARK_API_KEY"])`,
    "",
  ];
}

/** The Volcengine Ark SDK call that creates the same video task, and waits for it. */
export function pythonVideoSnippet(origin, body) {
  return [
    ...pythonHeader(origin, ["os", "time"]),
    "created = client.content_generation.tasks.create(",
    keywordArguments(body),
    ")",
    "while (task := client.content_generation.tasks.get(task_id=created.id)).status in " +
      '("queued", "running"):',
    "    time.sleep(1)",
    "print(task.status, task.content.video_url if task.content else task.error)",
  ].join("\n");
}

/** The Volcengine Ark SDK call that generates the same image. */
export function pythonImageSnippet(origin, body) {
  return [
    ...pythonHeader(origin),
    "response = client.images.generate(",
    keywordArguments(body),
    ")",
    "print(response.data[0].url, response.data[0].size)",
  ].join("\n");
}
