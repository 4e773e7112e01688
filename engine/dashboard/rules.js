// Rules of the running pipeline: the list (GET /api/v1/rules); admins add or change a rule
// (PUT /api/v1/rules/{id}, the rule as in [[rule]] as JSON) and remove one, with the API's
// problems shown under the form.

import { api } from "./api.js";
import { h, fill, heading, errorLine, showError, table, atLeast, toast, fmt } from "./ui.js";

const COMMON = new Set(["id", "kind", "camera", "severity", "since_ms", "origin"]);
const TEMPLATE = { id: "speeding-new", kind: "speeding", camera: "cam-1", zone: "approach", limit_kmh: 50, tolerance_kmh: 5, min_duration_ms: 1000, severity: "medium" };

function params(r) {
  return Object.entries(r).filter(([k, v]) => !COMMON.has(k) && v !== null).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");
}

function editor(existing, done) {
  const text = h("textarea#rule-json", { rows: 10, spellcheck: "false", "aria-label": "Rule as JSON" });
  text.value = JSON.stringify(existing || TEMPLATE, null, 2);
  const error = errorLine(null);
  const form = h("form.card.editor#rule-form", h("h2", existing ? `Edit rule ${existing.id}` : "Add a rule"),
    h("p.hint", "The rule as in [[rule]] of the config, as JSON: id, kind (speeding, wrong_way, red_light, zone_intrusion, stopped_vehicle, lane_violation), camera, severity and the kind's keys — or id and \"sql\": a rule in the rule language, e.g. \"SELECT * FROM track_points WHERE in_zone('approach') AND class = 'truck' AND speed_kmh < 10 FOR 5 s\" (docs/rules.md)."),
    text, h("div.actions", h("button#rule-save", { type: "submit" }, existing ? "Save" : "Add"), h("button", { type: "button", onclick: () => form.remove() }, "Cancel")), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let rule;
    try { rule = JSON.parse(text.value); } catch (e) { showError(error, { message: `not JSON: ${e.message}` }); return; }
    if (!rule || typeof rule.id !== "string" || !rule.id) { showError(error, { message: "the rule needs an \"id\"" }); return; }
    try {
      await api(`/api/v1/rules/${encodeURIComponent(rule.id)}`, { method: "PUT", body: rule });
      form.remove();
      toast(`Rule ${rule.id} saved`);
      done();
    } catch (e) {
      showError(error, e);
    }
  });
  return form;
}

export function render(root, { me }) {
  const admin = atLeast(me.role, "admin");
  const error = errorLine(null);
  const formSlot = h("div");
  const list = h("div#rules-list");
  const add = admin ? h("button#rule-add", { type: "button", onclick: () => fill(formSlot, editor(null, load)) }, "Add rule") : null;
  root.append(heading("Rules", add), error, formSlot, list);
  const actions = (r) => {
    const { since_ms, origin, ...rule } = r;
    const edit = h("button.edit", { type: "button", onclick: () => fill(formSlot, editor(rule, load)) }, "Edit");
    const remove = h("button.danger.remove", { type: "button" }, "Remove");
    remove.addEventListener("click", async () => {
      if (remove.dataset.armed !== "1") {
        remove.dataset.armed = "1";
        remove.textContent = "Confirm remove";
        return;
      }
      try {
        await api(`/api/v1/rules/${encodeURIComponent(r.id)}`, { method: "DELETE" });
        toast(`Rule ${r.id} removed`);
        load();
      } catch (e) {
        showError(error, e);
      }
    });
    return h("span.actions", edit, remove);
  };
  async function load() {
    try {
      const { rules } = await api("/api/v1/rules");
      showError(error, null);
      const columns = [{ key: "id", label: "Rule" }, { key: "kind", label: "Kind" }, { key: "camera", label: "Camera" }, { key: "severity", label: "Severity" },
        { key: "params", label: "Parameters", render: params }, { key: "origin", label: "Origin" }];
      if (admin) columns.push({ key: "actions", label: "", render: actions });
      fill(list, table(columns, rules.sort((a, b) => a.id.localeCompare(b.id)), "No rules."));
    } catch (e) {
      showError(error, e);
      fill(list);
    }
  }
  load();
}
