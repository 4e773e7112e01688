// The alerts inbox: GET /api/v1/alerts with filters, live updates from the SSE stream (read
// with fetch: the stream needs the Authorization header), acknowledge/resolve with a note
// (operators), escalations marked, and each alert's evidence (snapshot, trajectory, clip frames
// shown as a flipbook; operators and above), fetched with the session's credentials into blob URLs.

import { api, stream, blobUrl } from "./api.js";
import { h, fill, heading, errorLine, showError, time, atLeast, field, toast, fmt } from "./ui.js";

const SEVERITIES = ["", "low", "medium", "high", "critical"];
const STATUSES = ["", "open", "acknowledged", "resolved"];
const FLIP_MS = 200;

function select(id, label, values, value = "") {
  return h(`select#${id}`, { "aria-label": label }, values.map((v) => h("option", { value: v, selected: v === value }, v || `any ${label.toLowerCase()}`)));
}

function row(a, onOpen) {
  const tr = h("tr.alert", { dataset: { alert: a.alert_id, status: a.status }, tabindex: "0" },
    h("td", { "data-label": "Time" }, time(a.ts_ms)),
    h("td", { "data-label": "Severity" }, h(`span.badge.s-${a.severity}`, a.severity)),
    h("td", { "data-label": "Kind" }, a.kind),
    h("td", { "data-label": "Camera" }, a.camera_id),
    h("td", { "data-label": "Status" }, h(`span.badge.st-${a.status}`, a.status), a.escalated ? h("span.badge.escalated", { title: a.escalated_at_ms ? `escalated ${time(a.escalated_at_ms)}` : "escalated" }, "escalated") : null),
    h("td", { "data-label": "What" }, a.message || a.place || ""));
  tr.addEventListener("click", () => onOpen(a.alert_id));
  tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onOpen(a.alert_id); });
  return tr;
}

/** The evidence of alert `id`: images into blob URLs; clip frames cycle as a flipbook. */
async function evidence(id, box, urls, signal) {
  fill(box, h("h3", "Evidence"), h("p.empty", "Loading…"));
  let list;
  try {
    list = await api(`/api/v1/alerts/${encodeURIComponent(id)}/evidence`);
  } catch (e) {
    fill(box, h("h3", "Evidence"), h("p.empty#evidence-none", e.status === 404 ? "No evidence for this alert." : `${e.kind}: ${e.message}`));
    return;
  }
  const load = async (item) => {
    const url = await blobUrl(item.url);
    if (url) urls.push(url);
    return url;
  };
  // Pictures only: the snapshot or trajectory, and the clip frame by frame (not `clip_stream`,
  // the whole Motion-JPEG, nor `evidence.json`).
  const stills = list.items.filter((i) => (i.kind === "snapshot" || i.kind === "trajectory") && i.content_type.startsWith("image/"));
  const clip = list.items.filter((i) => i.kind === "clip");
  const figures = [];
  for (const item of stills) {
    const url = await load(item);
    if (url) figures.push(h("figure.evidence", { dataset: { kind: item.kind } }, h("img", { src: url, alt: item.name }), h("figcaption", `${item.kind}: ${item.name}`)));
  }
  if (clip.length) {
    const frames = (await Promise.all(clip.map(load))).filter(Boolean);
    if (frames.length) {
      const img = h("img", { src: frames[0], alt: "clip" });
      const caption = h("figcaption", `clip: ${frames.length} frames`);
      let at = 0;
      const timer = setInterval(() => { at = (at + 1) % frames.length; img.src = frames[at]; }, FLIP_MS);
      signal.addEventListener("abort", () => clearInterval(timer));
      figures.push(h("figure.evidence.flipbook", { dataset: { kind: "clip" } }, img, caption));
    }
  }
  if (signal.aborted) return;
  // A picture clicked spans the panel's width (and back).
  for (const f of figures) f.addEventListener("click", () => f.classList.toggle("wide"));
  fill(box, h("h3", "Evidence"), figures.length ? h("div.evidence-list#evidence-items", figures) : h("p.empty#evidence-none", "No evidence for this alert."));
}

function changeForm(a, me, onDone) {
  if (!atLeast(me.role, "operator") || a.status === "resolved") return null;
  const note = h("textarea#alert-note", { rows: 2, placeholder: "note (optional)", maxlength: 2000 });
  const error = errorLine(null);
  const act = (what) => async () => {
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(a.alert_id)}/${what}`, { method: "POST", body: { by: me.user, note: note.value.trim() || undefined } });
      toast(`Alert ${what === "acknowledge" ? "acknowledged" : "resolved"}`);
      onDone();
    } catch (e) {
      showError(error, e);
    }
  };
  return h("div.change", field("Note", note), h("div.actions",
    a.status === "open" ? h("button#alert-ack", { type: "button", onclick: act("acknowledge") }, "Acknowledge") : null,
    h("button#alert-resolve", { type: "button", onclick: act("resolve") }, "Resolve")), error);
}

function detail(a, me, box, urls, signal, reload) {
  const change = (c, what) => (c ? h("p", `${what} by ${c.by} at ${time(c.at_ms)}${c.note ? ` — “${c.note}”` : ""}`) : null);
  const ev = h("div.evidence-box#evidence");
  fill(box, h("div.heading", h("h2", `${a.kind} · ${a.camera_id}`), h("button", { type: "button", onclick: () => fill(box) }, "Close")),
    h("dl.facts", ["alert_id", "severity", "status", "rule_id", "track_id", "place", "value", "limit_value", "suppressed_count"].filter((k) => k in a)
      .flatMap((k) => [h("dt", k), h("dd", fmt(a[k]))]),
      h("dt", "raised"), h("dd", `${time(a.ts_ms)} (event time)`),
      a.escalated ? [h("dt", "escalated"), h("dd.escalated-at", a.escalated_at_ms ? time(a.escalated_at_ms) : "yes")] : null),
    h("p", a.message || ""), change(a.acknowledged, "Acknowledged"), change(a.resolved, "Resolved"),
    a.changed_by ? h("p", `Last change by ${a.changed_by}${a.note ? ` — “${a.note}”` : ""}`) : null,
    changeForm(a, me, reload), ev);
  box.hidden = false;
  // Evidence (vehicles, plates) is for those who handle alerts: operators and above.
  if (atLeast(me.role, "operator")) evidence(a.alert_id, ev, urls, signal);
  else ev.remove();
}

export function render(root, { me }) {
  const error = errorLine(null);
  const f = { severity: select("alerts-severity", "Severity", SEVERITIES), status: select("alerts-status", "Status", STATUSES),
    camera: h("input#alerts-camera", { placeholder: "camera", "aria-label": "Camera", size: 8 }), kind: select("alerts-kind", "Kind", [""]) };
  const live = h("span.live-state#alerts-live", "…");
  const list = h("div#alerts-list");
  const panel = h("section.card.detail#alert-detail", { hidden: true });
  root.append(heading("Alerts", f.severity, f.status, f.camera, f.kind, live), error, h("div.inbox", list, panel));
  const controller = new AbortController();
  let alerts = new Map();
  let openId = null;
  let detailCtl = null;
  const urls = [];
  const shown = () => [...alerts.values()].filter((a) => (!f.kind.value || a.kind === f.kind.value) && (!f.status.value || a.status === f.status.value)
    && (!f.severity.value || a.severity === f.severity.value) && (!f.camera.value.trim() || a.camera_id === f.camera.value.trim()))
    .sort((x, y) => y.ts_ms - x.ts_ms);
  function draw() {
    const kinds = ["", ...new Set([...alerts.values()].map((a) => a.kind))];
    if (kinds.join() !== [...f.kind.options].map((o) => o.value).join()) fill(f.kind, kinds.map((k) => h("option", { value: k, selected: k === f.kind.value }, k || "any kind")));
    const rows = shown();
    fill(list, rows.length ? h("table.alerts", h("thead", h("tr", ["Time", "Severity", "Kind", "Camera", "Status", "What"].map((t) => h("th", t)))),
      h("tbody", rows.map((a) => row(a, open)))) : h("p.empty", "No alerts match."));
  }
  function open(id) {
    openId = id;
    if (detailCtl) detailCtl.abort();
    detailCtl = new AbortController();
    urls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    detail(alerts.get(id), me, panel, urls, detailCtl.signal, reload);
  }
  async function reload() {
    const params = new URLSearchParams({ limit: "500" });
    if (f.severity.value) params.set("severity", f.severity.value);
    if (f.status.value) params.set("status", f.status.value);
    if (f.camera.value.trim()) params.set("camera", f.camera.value.trim());
    try {
      const answer = await api(`/api/v1/alerts?${params}`);
      alerts = new Map(answer.alerts.map((a) => [a.alert_id, a]));
      showError(error, null);
      draw();
      if (openId && alerts.has(openId)) open(openId);
    } catch (e) {
      showError(error, e);
    }
  }
  for (const el of Object.values(f)) el.addEventListener("change", reload);
  reload();
  stream("/api/v1/alerts/stream", controller.signal, (name, data) => {
    if (!["alert", "escalation", "update"].includes(name)) return;
    const a = JSON.parse(data);
    alerts.set(a.alert_id, a);
    draw();
    if (name === "escalation") toast(`Escalated: ${a.kind} on ${a.camera_id}`);
  }, (s) => {
    live.textContent = s === "open" ? "live" : s instanceof Error ? (s.kind === "no_pipeline" ? "no live feed (no pipeline)" : "reconnecting…") : "reconnecting…";
    live.classList.toggle("on", s === "open");
  });
  return () => {
    controller.abort();
    if (detailCtl) detailCtl.abort();
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}
