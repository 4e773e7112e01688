// The SQL console (analysts): a statement, its rows, a chart of one numeric column (against
// a time or label column), and the rows as CSV (made here from the JSON answer).

import { query } from "./api.js";
import { h, fill, heading, errorLine, showError, table } from "./ui.js";
import { lineChart, barChart } from "./charts.js";

const EXAMPLE = "SELECT window_start_ms, camera_id, vehicle_count, avg_speed_kmh\nFROM traffic_metrics WHERE class = 'all'\nORDER BY window_start_ms LIMIT 500";
const NUMERIC = /^(Int|UInt|Float|Decimal)/;

function csvCell(v) {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The result as CSV text (a header line, then one line per row). */
export function toCsv(result) {
  const names = result.columns.map((c) => c.name);
  return [names.map(csvCell).join(","), ...result.rows.map((r) => names.map((n) => csvCell(r[n])).join(","))].join("\r\n") + "\r\n";
}

function chart(result, yName, xName) {
  const rows = result.rows.filter((r) => r[yName] !== null);
  const xCol = result.columns.find((c) => c.name === xName);
  if (xCol && (NUMERIC.test(xCol.type) || xCol.type.startsWith("Timestamp"))) {
    const x = (v) => (typeof v === "string" ? Date.parse(v) : Number(v));
    return lineChart({ series: [{ name: yName, points: rows.map((r) => [x(r[xName]), Number(r[yName])]).sort((a, b) => a[0] - b[0]) }], yTitle: yName });
  }
  const label = (r, i) => (xCol ? String(r[xName]) : String(i + 1));
  return barChart({ labels: rows.slice(0, 60).map(label), values: rows.slice(0, 60).map((r) => Number(r[yName])), yTitle: yName });
}

export function render(root) {
  const text = h("textarea#sql-text", { rows: 5, spellcheck: "false", "aria-label": "SQL" });
  text.value = sessionStorage.getItem("itscam.sql") || EXAMPLE;
  const error = errorLine(null);
  const run = h("button#sql-run", { type: "submit" }, "Run");
  const y = h("select#sql-y", { "aria-label": "Column to chart" });
  const x = h("select#sql-x", { "aria-label": "Against" });
  const download = h("button#sql-csv", { type: "button", disabled: true }, "Download CSV");
  const status = h("span.hint#sql-status");
  const chartBox = h("div#sql-chart");
  const rowsBox = h("div#sql-rows");
  const form = h("form.card#sql-form", text, h("div.actions", run, status), error);
  root.append(heading("SQL"), form, h("section.card", h("div.actions", h("label.inline", "Chart ", y), h("label.inline", "against ", x), download), chartBox), rowsBox);
  let result = null;
  const redraw = () => fill(chartBox, result && y.value ? chart(result, y.value, x.value) : h("p.empty", "No numeric column to chart."));
  y.addEventListener("change", redraw);
  x.addEventListener("change", redraw);
  download.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([toCsv(result)], { type: "text/csv" }));
    const a = h("a", { href: url, download: "itscam-query.csv" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError(error, null);
    sessionStorage.setItem("itscam.sql", text.value);
    const started = performance.now();
    run.disabled = true;
    try {
      result = await query(text.value);
      status.textContent = `${result.row_count} rows${result.truncated ? " (cut at the row limit)" : ""} in ${Math.round(performance.now() - started)} ms`;
      const numeric = result.columns.filter((c) => NUMERIC.test(c.type)).map((c) => c.name);
      fill(y, numeric.map((n) => h("option", { value: n }, n)));
      if (numeric.length > 1) y.value = numeric[numeric.length > 1 && /_ms$/.test(numeric[0]) ? 1 : 0];
      fill(x, h("option", { value: "" }, "row number"), result.columns.map((c) => h("option", { value: c.name, selected: c.name === result.columns[0].name && c.name !== y.value }, c.name)));
      download.disabled = false;
      redraw();
      fill(rowsBox, table(result.columns.map((c) => ({ key: c.name })), result.rows, "No rows."));
    } catch (e) {
      result = null;
      download.disabled = true;
      status.textContent = "";
      showError(error, e);
      fill(chartBox);
      fill(rowsBox);
    } finally {
      run.disabled = false;
    }
  });
}
