// The dashboard's entry: who is logged in, routing by the URL fragment (#/page/arg?filters), keyboard shortcuts.

import { api, ApiError, whenUnauthenticated } from "./api.js";
import { ago, clear, fmtElapsed, h, seconds } from "./dom.js";
import { go, href, route } from "./nav.js";
import * as dead from "./page_dead.js";
import * as job from "./page_job.js";
import * as jobs from "./page_jobs.js";
import * as queues from "./page_queues.js";
import * as submit from "./page_submit.js";
import * as workers from "./page_workers.js";
import * as schedules from "./page_schedules.js";
import { idMatches, idPattern } from "./task_ids.js";

const PAGES = { jobs, job, queues, workers, schedules, dead, submit };
const view = document.getElementById("view");
let me = null;
let cleanup = null;

function showLogin(failed) {
  document.getElementById("nav").hidden = true;
  document.getElementById("jump").hidden = true;
  document.getElementById("who").hidden = true;
  const form = h("form.form", { method: "post", action: "/ui/login", id: "login-form" },
    h("div.field", {},
      h("label", { for: "api_key" }, "API key"),
      h("input", { id: "api_key", name: "api_key", type: "password", required: true, autocomplete: "current-password", placeholder: "mj_…", autofocus: true }),
      h("div.help", {}, "The key is kept in an HttpOnly cookie for this site only; log out to remove it."),
    ),
    h("button.btn.primary", { type: "submit" }, "Log in"),
  );
  clear(view, h("div.login.panel.pad", {},
    h("h1", {}, "Log in"),
    h("p.muted", {}, "Use a mediajobs API key. A read key can look; a submit or admin key can also act."),
    failed ? h("p.notice.bad", { id: "login-error" }, "That key was not accepted.") : null,
    form));
}

function renderChrome() {
  document.getElementById("nav").hidden = false;
  document.getElementById("jump").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-name").textContent = `${me.name} · ${me.owner} · ${me.role}`;
  document.getElementById("who").title = `${me.name} · ${me.owner} · ${me.role}`; // where the name is cut short
  document.getElementById("who").dataset.role = me.role;
  const rank = { read: 0, submit: 1, admin: 2 };
  for (const link of document.querySelectorAll("#nav a[data-needs]")) {
    link.hidden = rank[me.role] < rank[link.dataset.needs];
  }
}

function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!me) return;
  const current = route();
  const module = PAGES[current.page] || jobs;
  for (const link of document.querySelectorAll("#nav a")) {
    const page = current.page === "job" ? "jobs" : current.page;
    link.classList.toggle("active", link.dataset.page === page);
  }
  const ctx = {
    me, arg: current.arg, params: current.params,
    /** Replace the URL's state without adding history (filters typed in a box); `push` adds an entry. */
    setParams(params, { push = false } = {}) {
      const url = href(current.page, current.arg, params);
      if (push) location.hash = url;
      else history.replaceState(null, "", url);
      ctx.params = params;
    },
  };
  clear(view);
  document.title = `${current.page === "job" ? `job ${current.arg?.slice(0, 8)}` : current.page} · mediajobs`;
  const result = module.render(view, ctx);
  cleanup = typeof result === "function" ? result : null;
}

async function start() {
  const params = new URLSearchParams(location.search);
  whenUnauthenticated(() => { me = null; if (cleanup) cleanup(); cleanup = null; showLogin(false); });
  try {
    me = await api("/ui/whoami", { quiet401: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) { showLogin(params.get("login") === "failed"); return; }
    clear(view, h("p.notice.bad", {}, `The gateway did not answer: ${error.message}`));
    return;
  }
  if (params.has("login")) history.replaceState(null, "", `/ui/${location.hash}`);
  renderChrome();
  render();
}

document.getElementById("logout").addEventListener("click", async () => {
  await api("/ui/logout", { method: "POST" }).catch(() => null);
  location.replace("/ui/");
});

// The box in the header: a whole task id opens its job; a short one ("7ffd509e", "7ffd509e…0bed") opens the one
// job it names, else lists what it finds (several jobs, or none and why); other text is searched.
document.getElementById("jump").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("jump-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  input.blur();
  const pattern = idPattern(text);
  if (pattern?.whole) { go("job", pattern.head); return; }
  if (pattern) {
    const page = await api("/jobs/list", { params: { q: text, limit: 2 } }).catch(() => null);
    const only = page && page.jobs.length === 1 && !page.next_cursor ? page.jobs[0] : null;
    if (only && idMatches(pattern, only.task_id)) { go("job", only.task_id); return; }
  }
  go("jobs", null, { q: text });
});

// Keyboard: "/" jumps to a job by its id, whole or short (or searches); "g" then j/q/w/d/s goes to a page;
// Escape leaves the box.
let pendingG = 0;
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  if (event.key === "Escape" && typing) { target.blur(); return; }
  if (typing || event.metaKey || event.ctrlKey || event.altKey || !me) return;
  if (event.key === "/") {
    event.preventDefault();
    document.getElementById("jump-input").focus();
    return;
  }
  if (event.key === "g") { pendingG = Date.now(); return; }
  if (Date.now() - pendingG < 1500) {
    const page = { j: "jobs", q: "queues", w: "workers", t: "schedules", d: "dead", s: "submit" }[event.key];
    pendingG = 0;
    if (page) { event.preventDefault(); go(page); }
  }
});

// "3 min ago" stays true while the page is open.
setInterval(() => {
  for (const el of document.querySelectorAll("[data-ago]")) el.textContent = ago(el.dataset.ago);
}, 10_000);

// A running job's time so far ("Took" in the list and on its page) counts up.
setInterval(() => {
  for (const el of document.querySelectorAll("[data-running-since]")) el.textContent = fmtElapsed(seconds(el.dataset.runningSince, null));
}, 1000);

window.addEventListener("hashchange", render);
start();
