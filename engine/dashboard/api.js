// The API client: the session's tokens (sessionStorage), JSON calls with the Authorization
// header, one refresh on a 401, blob URLs for images, and Server-Sent Events read with fetch()
// (EventSource cannot send the Authorization header).

const ACCESS = "itscam.access";
const REFRESH = "itscam.refresh";

/** An API error answer: the status and the ErrorBody `{error, message}`. */
export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

const listeners = new Set();
/** `fn()` runs when the session ends (logout, or a 401 that a refresh cannot cure). */
export function onSessionEnd(fn) {
  listeners.add(fn);
}

export function token() {
  return sessionStorage.getItem(ACCESS);
}

export function saveTokens(pair) {
  sessionStorage.setItem(ACCESS, pair.access_token);
  sessionStorage.setItem(REFRESH, pair.refresh_token);
}

export function clearTokens() {
  sessionStorage.removeItem(ACCESS);
  sessionStorage.removeItem(REFRESH);
}

function headers(extra) {
  const h = new Headers(extra || {});
  const t = token();
  if (t) h.set("Authorization", `Bearer ${t}`);
  return h;
}

let refreshing = null;
/** New tokens from the refresh token; false when there is none or it is refused. */
async function refresh() {
  const rt = sessionStorage.getItem(REFRESH);
  if (!rt) return false;
  refreshing = refreshing || fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: rt }),
  }).then(async (r) => {
    if (!r.ok) return false;
    saveTokens(await r.json());
    return true;
  }).catch(() => false).finally(() => { refreshing = null; });
  return refreshing;
}

/** `fetch` with the session's credentials; retries once after a refresh on a 401. */
export async function send(path, init = {}) {
  let r = await fetch(path, { ...init, headers: headers(init.headers) });
  if (r.status === 401 && token() && await refresh()) {
    r = await fetch(path, { ...init, headers: headers(init.headers) });
  }
  if (r.status === 401 && token()) {
    clearTokens();
    listeners.forEach((fn) => fn());
  }
  return r;
}

async function failure(r) {
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  return new ApiError(r.status, body?.error || "http", body?.message || `${r.status} ${r.statusText}`);
}

/** A JSON call: `body` is sent as JSON; answers the parsed JSON, throws ApiError otherwise. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const r = await send(path, init);
  if (!r.ok) throw await failure(r);
  return r.status === 204 ? null : r.json();
}

/** The rows of `sql` (POST /api/v1/query). */
export function query(sql) {
  return api("/api/v1/query", { method: "POST", body: { sql } });
}

/** A blob URL of the image at `path` (null on 404); revoke it when done. */
export async function blobUrl(path) {
  const r = await send(path);
  if (r.status === 404) return null;
  if (!r.ok) throw await failure(r);
  return URL.createObjectURL(await r.blob());
}

/** Who the caller is, or null when credentials are needed and missing. */
export async function me() {
  const r = await send("/api/v1/auth/me");
  if (r.status === 401) return null;
  if (!r.ok) throw await failure(r);
  return r.json();
}

export async function login(user, password, totp) {
  const body = { user, password };
  if (totp) body.totp = totp;
  const r = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) throw await failure(r);
  saveTokens(await r.json());
}

export async function logout() {
  try { await send("/api/v1/auth/logout", { method: "POST" }); } catch { /* ended anyway */ }
  clearTokens();
}

/** Parses SSE text; calls `onEvent(name, data)` per complete event; returns the rest. */
function parseEvents(buffer, onEvent) {
  let at;
  while ((at = buffer.search(/\r?\n\r?\n/)) >= 0) {
    const block = buffer.slice(0, at);
    buffer = buffer.slice(at + buffer.slice(at).match(/^\r?\n\r?\n/)[0].length);
    let name = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const [field, ...rest] = line.split(":");
      const value = rest.join(":").replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) onEvent(name, data.join("\n"));
  }
  return buffer;
}

/**
 * Reads the SSE stream at `path` with the session's credentials, reconnecting (after 1 to 10 s)
 * until `signal` aborts. `onEvent(name, data)`; `onState("open"|"closed"|error)`.
 */
export async function stream(path, signal, onEvent, onState = () => {}) {
  let wait = 1000;
  while (!signal.aborted) {
    try {
      const r = await send(path, { signal, headers: { Accept: "text/event-stream" } });
      if (!r.ok) throw await failure(r);
      onState("open");
      wait = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + value, onEvent);
      }
      onState("closed");
    } catch (e) {
      if (signal.aborted) return;
      onState(e);
      if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404 || e.status === 409)) return;
    }
    await new Promise((done) => setTimeout(done, wait));
    wait = Math.min(wait * 2, 10000);
  }
}
