// System: GET /health (lake, the writer's state and spool, the edge sync, version), the
// pipeline's counters from GET /metrics (the writer's backlog, the Kafka outbox when there is
// one, rows and alerts so far; not for camera-scoped users, whom /metrics refuses) and
// GET /api/v1/models (registered versions, what runs).

import { api, send } from "./api.js";
import { h, fill, heading, errorLine, showError, table, time, fmt } from "./ui.js";

const POLL_MS = 5000;

function health(hl) {
  const lake = hl.lake_health;
  return h("section.card#system-health", h("h2", "Service"), h("dl",
    h("dt", "Status"), h("dd", h("span.badge.h-up", hl.status)),
    h("dt", "Version"), h("dd#system-version", hl.version),
    h("dt", "Lake"), h("dd", hl.lake),
    h("dt", "Lake writer"), h("dd", lake ? [h(`span.badge.h-${lake.state}`, lake.state), " ", lake.summary] : "no pipeline in this process"),
    lake?.spool ? [h("dt", "Spool"), h("dd", fmt(lake.spool))] : null,
    lake?.outages !== undefined ? [h("dt", "Outages"), h("dd", fmt(lake.outages))] : null,
    hl.lake_sync ? [h("dt", "Edge sync"), h("dd", fmt(hl.lake_sync))] : null,
    hl.outbox ? [h("dt", "Kafka outbox"), h("dd", fmt(hl.outbox))] : null));
}

function models(m) {
  const rows = (m.models || []).map((v) => ({ id: v.id, stage: v.stage, family: v.manifest?.family, input: v.manifest ? `${v.manifest.input_width}×${v.manifest.input_height}` : null,
    registered_by: v.manifest?.registered_by, registered_at_ms: v.manifest?.registered_at_ms }));
  const s = m.serving;
  return h("section.card.wide#system-models", h("h2", "Models"),
    table([{ key: "id", label: "Version" }, { key: "stage", label: "Stage" }, { key: "family", label: "Family" }, { key: "input", label: "Input" },
      { key: "registered_by", label: "By" }, { key: "registered_at_ms", label: "Registered", render: (r) => time(r.registered_at_ms) }], rows, "No model registered."),
    s ? h("p.hint", `Serving: production ${fmt(s.production)}, canary ${fmt(s.canary)}, shadow ${fmt(s.shadow)}, generation ${s.generation}${s.failed ? `, failed: ${fmt(s.failed)}` : ""}`) : null);
}

/** The OpenMetrics text as `[{name, labels, value}]` (comments and `_created` series left out). */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_:][a-z0-9_:]*)(\{[^}]*\})?\s+(\S+)/i);
    if (m && !m[1].endsWith("_created")) out.push({ name: m[1], labels: m[2] || "", value: Number(m[3]) });
  }
  return out;
}

const SHOWN = [/^itscam_lake_(pending_rows|up|blocked|outages_total|spool_)/, /outbox/, /^itscam_(detections|tracks|line_crossings|violations|anomalies|rejected|late)_total$/,
  /^itscam_alerts_(raised|escalated|acknowledged|resolved)_total$/, /^itscam_evidence_(written|dropped)_total$/, /^itscam_camera_up$/];

function counters(series) {
  const rows = series.filter((x) => SHOWN.some((re) => re.test(x.name))).map((x) => ({ series: x.name.replace(/^itscam_/, "") + x.labels, value: x.value }));
  return h("section.card#system-counters", h("h2", "Pipeline"), h("p.hint", "The writer's backlog (lake_pending_rows), the Kafka outbox when alerts go to Kafka, and rows so far (GET /metrics)."),
    table([{ key: "series", label: "Series" }, { key: "value", label: "Value" }], rows, "No pipeline runs in this process."));
}

async function metrics() {
  const r = await send("/metrics");
  if (!r.ok) return null;
  return parseMetrics(await r.text());
}

export function render(root, { me }) {
  const error = errorLine(null);
  const out = h("div.grid.system");
  root.append(heading("System"), error, out);
  let timer = null;
  let alive = true;
  async function poll() {
    try {
      const scoped = me.cameras && me.cameras.length > 0;
      const [hl, m, series] = await Promise.all([api("/health"), api("/api/v1/models").catch((e) => ({ error: e })), scoped ? null : metrics().catch(() => null)]);
      if (!alive) return;
      showError(error, m.error || null);
      fill(out, health(hl), series ? counters(series) : null, m.error ? null : models(m));
    } catch (e) {
      showError(error, e);
    }
    if (alive) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => { alive = false; clearTimeout(timer); };
}
