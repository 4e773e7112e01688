// Small DOM helpers shared by the pages: an element builder, tables, forms' error lines,
// time and number formats, roles.

/** `h("div.card#id", {attr: v, onclick: fn}, child, …)`: an element; strings become text. */
export function h(spec, attrs = {}, ...children) {
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/i);
  const el = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs instanceof Node || typeof attrs === "string" || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table of `rows` (objects) with `columns` (`[{key, label, render?}]`). */
export function table(columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p.empty", empty);
  return h("div.scroll", h("table",
    h("thead", h("tr", columns.map((c) => h("th", c.label ?? c.key)))),
    h("tbody", rows.map((r) => h("tr", columns.map((c) => h("td", { "data-label": c.label ?? c.key }, c.render ? c.render(r) : fmt(r[c.key]))))))));
}

/** A value for a cell. */
export function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(2);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Event or wall time (ms) as UTC `YYYY-MM-DD HH:MM:SS`. */
export function time(ms) {
  if (ms === null || ms === undefined) return "–";
  return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19);
}

/** An error line under a form: the API's message, with its kind. */
export function errorLine(e) {
  if (!e) return h("p.error", { role: "alert", hidden: true });
  return h("p.error", { role: "alert" }, e.kind ? `${e.kind}: ${e.message}` : String(e.message || e));
}

/** Shows `e` in the error line `el` (hides it for null). */
export function showError(el, e) {
  el.hidden = !e;
  el.textContent = e ? (e.kind ? `${e.kind}: ${e.message}` : String(e.message || e)) : "";
}

const ROLES = ["viewer", "analyst", "operator", "admin"];
/** Whether `role` is at least `needed`. */
export function atLeast(role, needed) {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** A labelled form field. */
export function field(label, input) {
  return h("label.field", h("span", label), input);
}

/** A page's heading with optional controls to its right. */
export function heading(title, ...controls) {
  return h("div.heading", h("h1", title), h("div.controls", controls));
}

/** A short notice at the bottom of the screen. */
export function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 3000);
}

/** SQL string literal. */
export function quote(s) {
  return `'${String(s).replaceAll("'", "''")}'`;
}
