// The dashboard's shell: who the user is (login unless auth is off), the navigation their role
// allows, and the hash routes (#/cameras, #/live/cam-1, #/traffic, #/alerts, #/rules, #/sql,
// #/system). Each page's render(root, ctx) returns a cleanup that stops its polls and streams.

import * as api from "./api.js";
import { h, fill, atLeast } from "./ui.js";
import * as login from "./login.js";
import * as cameras from "./cameras.js";
import * as live from "./live.js";
import * as traffic from "./traffic.js";
import * as alerts from "./alerts.js";
import * as rules from "./rules.js";
import * as sql from "./sql.js";
import * as system from "./system.js";

const PAGES = [
  { route: "cameras", title: "Cameras", role: "viewer", page: cameras },
  { route: "live", title: "Live", role: "viewer", page: live },
  { route: "traffic", title: "Traffic", role: "viewer", page: traffic },
  { route: "alerts", title: "Alerts", role: "viewer", page: alerts },
  { route: "rules", title: "Rules", role: "viewer", page: rules },
  { route: "sql", title: "SQL", role: "analyst", page: sql },
  { route: "system", title: "System", role: "viewer", page: system },
];

const state = { me: null, cleanup: null };

function nav() {
  const allowed = PAGES.filter((p) => state.me && atLeast(state.me.role, p.role));
  fill(document.getElementById("nav"), allowed.map((p) => h("a", { href: `#/${p.route}`, id: `nav-${p.route}` }, p.title)));
  const who = document.getElementById("who");
  who.textContent = state.me ? `${state.me.user} · ${state.me.role}` : "";
  document.getElementById("logout").hidden = !(state.me && state.me.via === "token");
}

async function show() {
  if (state.cleanup) state.cleanup();
  state.cleanup = null;
  const main = document.getElementById("main");
  const [route, ...args] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (!state.me) {
    fill(main);
    state.cleanup = login.render(main, { done: start });
    return;
  }
  const entry = PAGES.find((p) => p.route === route && atLeast(state.me.role, p.role));
  if (!entry) {
    location.replace("#/cameras");
    return;
  }
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.id === `nav-${entry.route}`);
  document.title = `${entry.title} · itscam`;
  fill(main);
  state.cleanup = entry.page.render(main, { me: state.me, args }) || null;
}

/** Finds who the user is (auth off: `/auth/me` answers without a token) and shows the page. */
async function start() {
  try {
    state.me = await api.me();
  } catch (e) {
    state.me = null;
    fill(document.getElementById("main"), h("p.error", { role: "alert" }, `The API does not answer: ${e.message}`));
    return;
  }
  nav();
  await show();
}

api.onSessionEnd(() => {
  state.me = null;
  nav();
  show();
});

document.getElementById("logout").addEventListener("click", async () => {
  await api.logout();
  state.me = null;
  nav();
  location.hash = "#/cameras";
  show();
});

window.addEventListener("hashchange", () => { if (state.me) show(); });
start();
