// The live view of one camera (#/live/<id>): counts per line and direction, zone occupancy and
// the speed distribution over the last minutes of event time, from the SSE feed
// GET /api/v1/cameras/{id}/live; for video cameras the latest annotated frame, refreshed.
// Timings (first paint, event → screen) go to window.itscamMetrics for the browser tests.

import { api, stream, blobUrl } from "./api.js";
import { h, fill, heading, errorLine, showError, time } from "./ui.js";
import { barChart } from "./charts.js";
import { listCameras } from "./cameras.js";

const FRAME_MS = 1000;
const metrics = (window.itscamMetrics = window.itscamMetrics || { liveFirstPaintMs: null, updates: [] });

function picker(current, cams) {
  const select = h("select#live-camera", { "aria-label": "Camera" }, cams.map((c) => h("option", { value: c.id, selected: c.id === current }, c.id)));
  select.addEventListener("change", () => { location.hash = `#/live/${encodeURIComponent(select.value)}`; });
  return select;
}

function linesTable(lines) {
  if (!lines.length) return h("p.empty", "No line crossings in this window.");
  return h("table.counts", h("thead", h("tr", h("th", "Line"), h("th", "Direction"), h("th", "Count"))),
    h("tbody", lines.map((l) => h("tr", h("td", l.line_id), h("td", l.direction), h("td.num", { dataset: { line: l.line_id, direction: l.direction } }, String(l.count))))));
}

function zonesList(zones) {
  if (!zones.length) return h("p.empty", "No zone occupied.");
  return h("ul.zones", zones.map((z) => h("li", h("span", z.zone_id), h("strong", { dataset: { zone: z.zone_id } }, String(z.occupancy)))));
}

function paint(parts, view) {
  const total = view.lines.reduce((n, l) => n + l.count, 0);
  parts.total.textContent = String(total);
  parts.clock.textContent = view.ts_ms ? `event time ${time(view.ts_ms)} · last ${Math.round(view.window_ms / 60000)} min` : "no frames yet";
  fill(parts.lines, linesTable(view.lines));
  fill(parts.zones, zonesList(view.zones));
  const b = view.speeds.bin_kmh;
  const labels = view.speeds.counts.map((_, i) => (i === view.speeds.counts.length - 1 ? `${i * b}+` : `${i * b}`));
  fill(parts.speeds, barChart({ labels, values: view.speeds.counts, yTitle: "tracks by mean speed (km/h)" }));
}

export function render(root, { args }) {
  const started = performance.now();
  metrics.liveFirstPaintMs = null;
  metrics.updates = [];
  const controller = new AbortController();
  const error = errorLine(null);
  const parts = {
    total: h("span#live-total", "–"),
    clock: h("span#live-clock", "connecting…"),
    lines: h("div#live-lines"),
    zones: h("div#live-zones"),
    speeds: h("div#live-speeds"),
    frame: h("img#live-frame", { alt: "Latest frame", hidden: true }),
  };
  const pick = h("span");
  root.append(heading(args[0] ? `Live · ${args[0]}` : "Live", pick), error,
    h("div.live",
      h("section.card.frame-box", parts.frame, h("p", h("span.big", parts.total), " crossings · ", parts.clock)),
      h("section.card", h("h2", "Counts per line"), parts.lines),
      h("section.card", h("h2", "Zone occupancy"), parts.zones),
      h("section.card.wide", h("h2", "Speeds"), parts.speeds)));
  let frameTimer = null;
  let frameUrl = null;
  listCameras().then((cams) => {
    if (controller.signal.aborted) return;
    if (!args[0] && cams.length) {
      location.replace(`#/live/${encodeURIComponent(cams[0].id)}`);
      return;
    }
    fill(pick, picker(args[0], cams));
    if (cams.find((c) => c.id === args[0])?.video) refreshFrame();
  }).catch((e) => showError(error, e));
  async function refreshFrame() {
    const url = await blobUrl(`/api/v1/cameras/${encodeURIComponent(args[0])}/frame?t=${Date.now()}`).catch(() => null);
    if (controller.signal.aborted) {
      if (url) URL.revokeObjectURL(url);
      return;
    }
    if (url) {
      parts.frame.src = url;
      parts.frame.hidden = false;
      if (frameUrl) URL.revokeObjectURL(frameUrl);
      frameUrl = url;
    }
    frameTimer = setTimeout(refreshFrame, FRAME_MS);
  }
  if (args[0]) {
    const path = `/api/v1/cameras/${encodeURIComponent(args[0])}/live?interval_ms=1000`;
    stream(path, controller.signal, (name, data) => {
      const received = performance.now();
      if (name === "error") {
        showError(error, JSON.parse(data));
        return;
      }
      if (name !== "live") return;
      showError(error, null);
      const view = JSON.parse(data);
      paint(parts, view);
      requestAnimationFrame(() => {
        const painted = performance.now();
        if (metrics.liveFirstPaintMs === null) metrics.liveFirstPaintMs = painted - started;
        metrics.updates.push({ ts_ms: view.ts_ms, total: Number(parts.total.textContent), receivedMs: received, screenMs: painted - received, wallMs: Date.now() });
        if (metrics.updates.length > 500) metrics.updates.shift();
      });
    }, (s) => { if (s instanceof Error) showError(error, s); });
  }
  return () => {
    controller.abort();
    clearTimeout(frameTimer);
    if (frameUrl) URL.revokeObjectURL(frameUrl);
  };
}
