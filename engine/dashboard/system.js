// System: GET /health (lake, the writer's state and spool, the edge sync, version) and
// GET /api/v1/models (registered versions, what runs).

import { api } from "./api.js";
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

export function render(root) {
  const error = errorLine(null);
  const out = h("div.grid.system");
  root.append(heading("System"), error, out);
  let timer = null;
  let alive = true;
  async function poll() {
    try {
      const [hl, m] = await Promise.all([api("/health"), api("/api/v1/models").catch((e) => ({ error: e }))]);
      if (!alive) return;
      showError(error, m.error || null);
      fill(out, health(hl), m.error ? null : models(m));
    } catch (e) {
      showError(error, e);
    }
    if (alive) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => { alive = false; clearTimeout(timer); };
}
