// Traffic over time from `traffic_metrics` (the highest revision of each window): volume, mean
// speed and congestion level per camera and class, over a window of event time ending at the
// latest window; anomalies of the same span marked on the charts and listed.

import { query } from "./api.js";
import { h, fill, heading, errorLine, showError, table, time, quote } from "./ui.js";
import { lineChart } from "./charts.js";

const SPANS = [["1 h", 3600000], ["6 h", 21600000], ["24 h", 86400000], ["7 days", 604800000], ["everything", 0]];
const LEVELS = ["free", "light", "moderate", "heavy", "jam"];
const CLASSES = ["all", "car", "truck", "bus", "motorcycle", "bicycle", "person"];

function select(id, label, options, value) {
  return h(`select#${id}`, { "aria-label": label }, options.map(([text, v]) => h("option", { value: String(v), selected: String(v) === String(value) }, text)));
}

/** Rows of `traffic_metrics` and `anomalies` in the chosen span. */
async function load(camera, klass, span) {
  const camFilter = camera ? `camera_id = ${quote(camera)}` : "TRUE";
  const latest = await query(`SELECT max(window_end_ms) AS t FROM traffic_metrics WHERE ${camFilter}`);
  const end = latest.rows[0]?.t;
  if (end === null || end === undefined) return { rows: [], anomalies: [], end: null };
  const from = span ? end - span : 0;
  const metrics = await query(
    `SELECT camera_id, window_start_ms, vehicle_count, avg_speed_kmh, congestion_level FROM (
       SELECT *, row_number() OVER (PARTITION BY camera_id, class, window_start_ms ORDER BY revision DESC) AS rn
       FROM traffic_metrics WHERE ${camFilter} AND class = ${quote(klass)} AND window_start_ms >= ${from})
     WHERE rn = 1 ORDER BY window_start_ms, camera_id`);
  const anomalies = await query(
    `SELECT anomaly_id, kind, camera_id, zone_id, window_start_ms, value, baseline, score, severity FROM anomalies
     WHERE ${camFilter} AND window_start_ms >= ${from} ORDER BY window_start_ms DESC LIMIT 500`);
  return { rows: metrics.rows, anomalies: anomalies.rows, end };
}

function bySeries(rows, value) {
  const series = new Map();
  for (const r of rows) {
    if (!series.has(r.camera_id)) series.set(r.camera_id, []);
    series.get(r.camera_id).push([Number(r.window_start_ms), value(r)]);
  }
  return [...series].map(([name, points]) => ({ name, points }));
}

function charts(data) {
  const marks = data.anomalies.map((a) => ({ x: Number(a.window_start_ms), label: `${a.kind} on ${a.camera_id}: ${Number(a.value).toFixed(1)} vs ${Number(a.baseline).toFixed(1)}` }));
  const level = (r) => (r.congestion_level === null ? null : LEVELS.indexOf(r.congestion_level));
  return [
    h("section.card", h("h2", "Volume (vehicles per window)"), lineChart({ series: bySeries(data.rows, (r) => Number(r.vehicle_count)), marks, yTitle: "vehicles" })),
    h("section.card", h("h2", "Mean speed (km/h)"), lineChart({ series: bySeries(data.rows, (r) => (r.avg_speed_kmh === null ? null : Number(r.avg_speed_kmh))), marks, yTitle: "km/h" })),
    h("section.card", h("h2", "Congestion level (0 free … 4 jam)"), lineChart({ series: bySeries(data.rows, level), marks, yTitle: "level" })),
    h("section.card.wide", h("h2", `Anomalies (${data.anomalies.length})`), table([
      { key: "window_start_ms", label: "Window", render: (r) => time(r.window_start_ms) },
      { key: "camera_id", label: "Camera" }, { key: "kind", label: "Kind" }, { key: "zone_id", label: "Zone" },
      { key: "value", label: "Value" }, { key: "baseline", label: "Baseline" }, { key: "score", label: "Score" }, { key: "severity", label: "Severity" },
    ], data.anomalies, "No anomalies in this window.")),
  ];
}

export function render(root) {
  const error = errorLine(null);
  const out = h("div.charts#traffic-charts", h("p.empty", "Loading…"));
  const camera = select("traffic-camera", "Camera", [["every camera", ""]], "");
  const klass = select("traffic-class", "Class", CLASSES.map((c) => [c, c]), "all");
  const span = select("traffic-span", "Window", SPANS, 21600000);
  const note = h("p.hint#traffic-note");
  root.append(heading("Traffic", camera, klass, span), error, note, out);
  let alive = true;
  query("SELECT DISTINCT camera_id FROM traffic_metrics ORDER BY camera_id").then((r) => {
    for (const row of r.rows) camera.append(h("option", { value: row.camera_id }, row.camera_id));
  }).catch((e) => showError(error, e));
  async function draw() {
    try {
      const data = await load(camera.value, klass.value, Number(span.value));
      if (!alive) return;
      showError(error, null);
      note.textContent = data.end ? `Windows up to ${time(data.end)} (event time), class ${klass.value}.` : "";
      fill(out, data.end ? charts(data) : h("p.empty", "No traffic metrics yet."));
    } catch (e) {
      showError(error, e);
    }
  }
  for (const el of [camera, klass, span]) el.addEventListener("change", draw);
  draw();
  const timer = setInterval(draw, 15000);
  return () => { alive = false; clearInterval(timer); };
}
