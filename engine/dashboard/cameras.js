// Cameras: health, frames, frames/s (from successive polls), calibration error, the latest frame
// of video cameras; admins add, edit and remove cameras (JSON as in [[camera]]).

import { api, query, blobUrl } from "./api.js";
import { h, fill, heading, atLeast, errorLine, showError, fmt, time, toast } from "./ui.js";

const POLL_MS = 2000;

/** Every camera id the API tells of, with what it knows of each. */
function merge(list, seen) {
  const cams = new Map();
  const get = (id) => cams.get(id) || cams.set(id, { id }).get(id);
  for (const id of seen) get(id);
  for (const c of list.configured || []) Object.assign(get(c.id), { config: c });
  for (const s of list.cameras) Object.assign(get(s.camera_id), { video: s });
  for (const c of list.calibration) Object.assign(get(c.camera_id), { calibration: c });
  for (const p of list.push) Object.assign(get(p.camera_id), { push: p });
  return [...cams.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** Every camera the API tells of (the pipeline's, and those with traffic rows). */
export async function listCameras() {
  const [list, seen] = await Promise.all([
    api("/api/v1/cameras"),
    query("SELECT DISTINCT camera_id FROM traffic_metrics ORDER BY camera_id").then((r) => r.rows.map((x) => x.camera_id)).catch(() => []),
  ]);
  return merge(list, seen);
}

function kind(c) {
  if (c.video) return "video";
  if (c.push) return "push";
  return "detections";
}

function card(c, fps, ctx) {
  const health = c.video ? c.video.health : c.push ? (c.push.accepting ? "accepting" : "full") : "–";
  const frames = c.video ? c.video.frames : c.push ? c.push.frames : null;
  const body = h("dl",
    h("dt", "Source"), h("dd", kind(c)),
    h("dt", "Health"), h("dd", health === "–" ? "–" : h(`span.badge.h-${health}`, health)),
    h("dt", "Frames"), h("dd.frames", fmt(frames)),
    h("dt", "Frames/s"), h("dd.fps", fps === null ? "–" : fps.toFixed(1)),
    h("dt", "Calibration error"), h("dd", c.calibration ? `${c.calibration.rms_error_m.toFixed(3)} m rms` : "not calibrated"),
    c.video?.last_frame_ms ? [h("dt", "Last frame"), h("dd", time(c.video.last_frame_ms))] : null,
    c.video?.last_error ? [h("dt", "Last error"), h("dd.error-text", c.video.last_error)] : null);
  const actions = h("div.actions", h("a.button", { href: `#/live/${encodeURIComponent(c.id)}` }, "Live view"));
  if (c.config?.removing || ctx.removing.has(c.id)) {
    actions.append(h("span.badge.h-down", "removing"));
  } else if (atLeast(ctx.me.role, "admin")) {
    actions.append(h("button.edit", { type: "button", onclick: () => ctx.edit(c.id) }, "Edit"));
    // Two clicks: arm, then confirm (kept across the polls' redraws).
    const armed = ctx.armed.has(c.id);
    const remove = h("button.danger.remove", { type: "button", dataset: armed ? { armed: "1" } : {} }, armed ? "Confirm remove" : "Remove");
    remove.addEventListener("click", async () => {
      if (!ctx.armed.has(c.id)) {
        ctx.armed.add(c.id);
        remove.dataset.armed = "1";
        remove.textContent = "Confirm remove";
        return;
      }
      ctx.armed.delete(c.id);
      remove.disabled = true;
      try {
        await api(`/api/v1/cameras/${encodeURIComponent(c.id)}`, { method: "DELETE" });
        ctx.removing.add(c.id);
        remove.textContent = "Removing…";
        toast(`Camera ${c.id} removed`);
      } catch (e) {
        remove.disabled = false;
        toast(`${e.kind}: ${e.message}`);
      }
    });
    actions.append(remove);
  }
  const thumb = c.video ? h("img.thumb", { alt: `Latest frame of ${c.id}`, hidden: true }) : null;
  return h("article.card.camera", { dataset: { camera: c.id } }, h("h2", c.id), thumb, body, actions);
}

/** The add/edit form: a camera as JSON; the API's problems shown under it. */
function editor(ctx, existing) {
  const text = h("textarea#camera-json", { rows: 10, spellcheck: "false" });
  text.value = JSON.stringify(existing || { id: "cam-new", source: "push" }, null, 2);
  const error = errorLine(null);
  const form = h("form.card.editor#camera-form", h("h2", existing ? `Edit ${existing.id}` : "Add a camera"),
    h("p.hint", "The camera as in [[camera]] of the config, as JSON (source, calibration, line, zone)."), text,
    h("div.actions", h("button", { type: "submit" }, existing ? "Save" : "Add"), h("button", { type: "button", onclick: () => form.remove() }, "Cancel")), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let body;
    try { body = JSON.parse(text.value); } catch (e) { showError(error, { message: `not JSON: ${e.message}` }); return; }
    try {
      const path = existing ? `/api/v1/cameras/${encodeURIComponent(existing.id)}` : "/api/v1/cameras";
      await api(path, { method: existing ? "PUT" : "POST", body });
      form.remove();
      toast(existing ? `Camera ${existing.id} changed` : `Camera ${body.id} added`);
    } catch (e) {
      showError(error, e);
    }
  });
  return form;
}

export function render(root, { me }) {
  const grid = h("div.grid#cameras");
  const formSlot = h("div");
  const error = errorLine(null);
  const ctx = { me, edit: null, armed: new Set(), removing: new Set() };
  const showEditor = (existing) => fill(formSlot, editor(ctx, existing));
  ctx.edit = async (id) => {
    try {
      const { camera } = await api(`/api/v1/cameras/${encodeURIComponent(id)}`);
      const { since_ms, origin, removing, ...config } = camera;
      showEditor(config);
    } catch (e) {
      showError(error, e);
    }
  };
  const add = atLeast(me.role, "admin") ? h("button#camera-add", { type: "button", onclick: () => showEditor(null) }, "Add camera") : null;
  root.append(heading("Cameras", add), error, formSlot, grid);

  let seen = [];
  let polls = 0;
  const lookAround = () => query("SELECT DISTINCT camera_id FROM traffic_metrics ORDER BY camera_id").then((r) => { seen = r.rows.map((x) => x.camera_id); }).catch(() => {});
  const last = new Map();
  const urls = new Map();
  let timer = null;
  let stopped = false;
  async function poll() {
    if (polls++ % 10 === 0) await lookAround();
    try {
      const cams = merge(await api("/api/v1/cameras"), seen);
      showError(error, null);
      const now = performance.now();
      fill(grid, cams.length ? cams.map((c) => {
        const frames = c.video?.frames ?? c.push?.frames;
        const prev = last.get(c.id);
        const fps = prev && frames !== undefined && now > prev.at ? ((frames - prev.frames) * 1000) / (now - prev.at) : null;
        if (frames !== undefined) last.set(c.id, { frames, at: now });
        return card(c, fps, ctx);
      }) : h("p.empty", "No cameras yet."));
      await thumbnails(cams.filter((c) => c.video));
    } catch (e) {
      showError(error, e);
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  async function thumbnails(videos) {
    for (const c of videos) {
      const img = grid.querySelector(`[data-camera="${CSS.escape(c.id)}"] img.thumb`);
      const old = urls.get(c.id);
      if (old && img) {
        img.src = old;
        img.hidden = false;
      }
      const url = await blobUrl(`/api/v1/cameras/${encodeURIComponent(c.id)}/frame?t=${Date.now()}`).catch(() => null);
      if (!url) continue;
      if (stopped || !img) {
        URL.revokeObjectURL(url);
        continue;
      }
      img.src = url;
      img.hidden = false;
      urls.set(c.id, url);
      if (old) URL.revokeObjectURL(old);
    }
  }
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}
