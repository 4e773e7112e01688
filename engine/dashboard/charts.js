// Charts as SVG, drawn here (no library): a line chart over time with marks (anomalies), and a
// bar chart. Both scale to their container's width through the viewBox.

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 220;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };
export const COLORS = ["#2f6fdf", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285", "#c2255c", "#495057"];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** About five round ticks covering `lo` to `hi`. */
function ticks(lo, hi, n = 5) {
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const out = [];
  // From the step at or below `lo` to the step at or above `hi`, so every value is inside.
  const last = Math.ceil(hi / step - 1e-9) * step;
  for (let v = Math.floor(lo / step + 1e-9) * step; v <= last + step / 2; v += step) out.push(+v.toFixed(10));
  return out;
}

function timeLabel(ms, span) {
  const iso = new Date(ms).toISOString();
  return span > 2 * 86400000 ? iso.slice(5, 10) : span > 600000 ? iso.slice(11, 16) : iso.slice(11, 19);
}

function frame(svg, yTicks, y, title) {
  for (const t of yTicks) {
    svg.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t), class: "grid" }));
    svg.append(s("text", { x: PAD.left - 6, y: y(t) + 4, "text-anchor": "end", class: "tick" }, String(t)));
  }
  if (title) svg.append(s("text", { x: PAD.left, y: 10, class: "axis-title" }, title));
}

/**
 * A line chart: `series` `[{name, points: [[x_ms, y], …]}]`, `marks` `[{x, label}]` drawn as
 * red dashed lines with a dot (anomalies). Returns a figure with a legend.
 */
export function lineChart({ series, marks = [], yTitle = "" }) {
  const xs = series.flatMap((se) => se.points.map((p) => p[0])).concat(marks.map((m) => m.x));
  const ys = series.flatMap((se) => se.points.map((p) => p[1])).filter((v) => v !== null && Number.isFinite(v));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": yTitle });
  const fig = document.createElement("figure");
  fig.className = "chart-box";
  if (!ys.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" }, "no data in this window"));
    fig.append(svg);
    return fig;
  }
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
  const yTicks = ticks(Math.min(0, ...ys), Math.max(1, ...ys));
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const x = (v) => PAD.left + ((v - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - y0) / (y1 - y0 || 1)) * (H - PAD.top - PAD.bottom);
  frame(svg, yTicks, y, yTitle);
  for (const t of ticks(x0, x1, 4).filter((v) => v >= x0 && v <= x1)) svg.append(s("text", { x: x(t), y: H - 8, "text-anchor": "middle", class: "tick" }, timeLabel(t, x1 - x0)));
  series.forEach((se, i) => {
    const pts = se.points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
    if (!pts.length) return;
    const d = pts.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    svg.append(s("path", { d, class: "series", stroke: COLORS[i % COLORS.length] }));
    if (pts.length === 1) svg.append(s("circle", { cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3, fill: COLORS[i % COLORS.length] }));
  });
  for (const m of marks) {
    const g = s("g", { class: "mark" });
    g.append(s("line", { x1: x(m.x), x2: x(m.x), y1: PAD.top, y2: H - PAD.bottom }));
    g.append(s("circle", { cx: x(m.x), cy: PAD.top + 4, r: 4 }));
    g.append(s("title", {}, m.label));
    svg.append(g);
  }
  fig.append(svg);
  const legend = document.createElement("figcaption");
  series.forEach((se, i) => {
    const key = document.createElement("span");
    key.className = `key c${i % COLORS.length}`;
    key.textContent = se.name;
    legend.append(key);
  });
  if (marks.length) {
    const key = document.createElement("span");
    key.className = "key anomaly";
    key.textContent = `anomalies (${marks.length})`;
    legend.append(key);
  }
  fig.append(legend);
  return fig;
}

/** A bar chart of `values` with `labels` under the bars. */
export function barChart({ labels, values, yTitle = "" }) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": yTitle });
  const yTicks = ticks(0, Math.max(1, ...values));
  const top = yTicks[yTicks.length - 1];
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  frame(svg, yTicks, y, yTitle);
  const slot = (W - PAD.left - PAD.right) / Math.max(1, values.length);
  const every = Math.ceil(values.length / 12);
  values.forEach((v, i) => {
    const bx = PAD.left + i * slot;
    const bar = s("rect", { x: bx + slot * 0.1, y: y(v), width: slot * 0.8, height: Math.max(0, y(0) - y(v)), class: "bar" });
    bar.append(s("title", {}, `${labels[i]}: ${v}`));
    svg.append(bar);
    if (i % every === 0) svg.append(s("text", { x: bx + slot / 2, y: H - 8, "text-anchor": "middle", class: "tick" }, labels[i]));
  });
  const fig = document.createElement("figure");
  fig.className = "chart-box";
  fig.append(svg);
  return fig;
}
