// Schedules (GET /jobs/schedules, admin): periodic jobs with their next and last run; pause, resume, delete. Refreshed every 5 s.

import { api } from "./api.js";
import { ago, clear, confirmDialog, fmtTime, h, shortId, toast } from "./dom.js";
import { adminOnly, problemBox, refreshEvery } from "./widgets.js";

const REFRESH_MS = 5000;

function when(s) {
  return s.cron ? [h("span.mono", {}, s.cron), h("span.muted.small", {}, ` ${s.timezone}`)] : `every ${fmtEvery(s.every_s)}`;
}

function fmtEvery(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function jobText(request) {
  const { job_type: type, ...rest } = request || {};
  const fields = Object.keys(rest).length ? JSON.stringify(rest) : "";
  return [h("strong", {}, type || "?"), fields ? h("span.mono.small.muted", { title: fields }, ` ${fields.length > 60 ? `${fields.slice(0, 59)}…` : fields}`) : null];
}

export function render(root, ctx) {
  const tbody = h("tbody", { id: "schedules-body" });
  const summary = h("div.summary", { id: "schedules-summary" });
  const message = h("div");
  root.append(
    h("div.page-head", {}, h("h1", {}, "Schedules"), h("span.spacer"), h("span.small.muted", {}, "refreshed every 5 s")),
    message,
    summary,
    h("div.panel", {}, h("div.table-wrap", {}, h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "When", "Job", "Next run", "Last run", "Runs", ""].map((c, i) => h(`th${[1, 2, 4, 5].includes(i) ? ".hide-sm" : ""}`, {}, c)))),
      tbody))),
    h("p.small.muted", {}, "Add schedules with ", h("code", {}, "mediajobs schedules add"), ", ", h("code", {}, "POST /jobs/schedules"),
      " or SCHEDULES_FILE. Ticks missed while no janitor ran follow each schedule's catch-up (once or skip)."));
  if (adminOnly(ctx.me, message, "Schedules")) return null;

  async function act(name, verb) {
    try {
      if (verb === "delete") {
        if (!(await confirmDialog("Delete schedule", `Delete the schedule ${name}? Jobs it already submitted stay.`, "Delete"))) return;
        await api(`/jobs/schedules/${encodeURIComponent(name)}`, { method: "DELETE" });
        toast(`Deleted ${name}`);
      } else {
        await api(`/jobs/schedules/${encodeURIComponent(name)}/${verb}`, { method: "POST" });
        toast(verb === "pause" ? `Paused ${name}` : `Resumed ${name}`);
      }
      await load();
    } catch (error) {
      toast(error.message, true);
    }
  }

  async function load() {
    try {
      const found = await api("/jobs/schedules");
      clear(message);
      const paused = found.filter((s) => s.paused).length;
      const missed = found.reduce((n, s) => n + (s.missed || 0), 0);
      const failing = found.filter((s) => s.last_problem).length;
      clear(summary,
        h("span", {}, h("strong", {}, String(found.length)), ` schedule${found.length === 1 ? "" : "s"}`),
        paused ? h("span", {}, h("strong", {}, String(paused)), " paused") : null,
        missed ? h("span.warn", {}, `${missed} tick${missed === 1 ? "" : "s"} missed`) : null,
        failing ? h("span.warn", {}, `${failing} making no jobs`) : null);
      clear(tbody, found.length ? found.map((s) => h("tr", { "data-schedule": s.name },
        h("td", {}, h("strong.break", {}, s.name), s.source === "file" ? h("span.chip.queued", { title: "Defined in SCHEDULES_FILE" }, "file") : null,
          h("div.show-sm.small.break", {}, when(s)),
          s.last_problem ? h("div.small.warn.break", { "data-problem": "" }, s.last_problem) : null),
        h("td.small.hide-sm", {}, when(s)),
        h("td.small.hide-sm", {}, jobText(s.request)),
        h("td.small.nowrap.wrap-sm", {}, s.paused ? h("span.chip.cancelled", {}, "paused") : h("span", { title: s.next_run_at || "" }, fmtTime(s.next_run_at)),
          h("div.show-sm.muted", {}, s.last_run_at ? `last run ${ago(s.last_run_at)}` : "never run")),
        h("td.small.nowrap.hide-sm", {}, s.last_task_id
          ? [h("a.id", { href: `#/job/${s.last_task_id}`, title: s.last_task_id }, shortId(s.last_task_id)), " ", h("span.muted", { title: s.last_run_at || "" }, ago(s.last_run_at))]
          : h("span.muted", {}, "never")),
        h("td.small.hide-sm", {}, String(s.runs), s.missed ? h("span.warn", { title: "ticks missed" }, ` (${s.missed} missed)`) : null,
          s.refused ? h("span.warn", { title: "ticks the owner's quota or rate turned away" }, ` (${s.refused} refused)`) : null),
        h("td.actions", {},
          h("button.btn.small", { type: "button", "data-action": s.paused ? "resume" : "pause", onclick: () => act(s.name, s.paused ? "resume" : "pause") }, s.paused ? "Resume" : "Pause"), " ",
          h("button.btn.small.danger", { type: "button", "data-action": "delete", disabled: s.source === "file", title: s.source === "file" ? "Defined in SCHEDULES_FILE: remove it there" : null, onclick: () => act(s.name, "delete") }, "Delete"))))
        : h("tr", {}, h("td.empty", { colspan: 7 }, "No schedules.")));
    } catch (error) {
      clear(message, problemBox(error));
    }
  }
  return refreshEvery(REFRESH_MS, load);
}
