// Small pieces several views share: the live/paused switch, job action buttons, page headings.

import { api } from "./api.js";
import { confirmDialog, h, shortId, toast } from "./dom.js";
import { isPaused, onState, pause, resume } from "./live.js";

const LABELS = {
  on: "Live", connecting: "Connecting…", paused: "Paused", unavailable: "Polling", off: "Offline",
};

/** "● Live [Pause]": the state of the page's event stream and a button to pause or resume it. */
export function liveSwitch(onResume) {
  const label = h("span", {}, "");
  const wrap = h("span.live", { id: "live-state" }, h("span.dot"), label);
  const button = h("button.btn.small", {
    type: "button", id: "live-toggle",
    onclick: () => {
      if (isPaused()) { resume(); if (onResume) onResume(); } else { pause(); }
    },
  }, "Pause");
  const stop = onState((s) => {
    label.textContent = LABELS[s] || s;
    wrap.className = `live ${s === "on" ? "on" : s === "unavailable" ? "polling" : ""}`;
    wrap.dataset.state = s;
    button.textContent = s === "paused" ? "Resume" : "Pause";
  });
  const el = h("span.live-switch", {}, wrap, " ", button);
  el.stop = stop;
  return el;
}

export function canAct(me) { return me.role === "submit" || me.role === "admin"; }

/** Cancel / retry buttons for a job, as its status allows and the key's role permits (none for `read`). */
export function jobActions(job, me, after) {
  if (!canAct(me)) return null;
  const buttons = [];
  const act = async (verb) => {
    try {
      await api(`/jobs/${job.task_id}/${verb}`, { method: "POST" });
      toast(`${verb === "cancel" ? "Cancel requested for" : "Retrying"} ${job.task_id.slice(0, 8)}`);
      if (after) after();
    } catch (error) {
      toast(`${verb} failed: ${error.message}`, true);
    }
  };
  // Cancelling cannot be undone (only a failed job can be retried), so it asks first, as purging does; a
  // running job loses the work it has done.
  const cancel = async () => {
    const running = job.status === "running";
    const ok = await confirmDialog(
      running ? `Cancel running job ${shortId(job.task_id)}?` : `Cancel ${job.status} job ${shortId(job.task_id)}?`,
      `${running ? "It stops within about a second, unfinished." : "It will not run."} A cancelled job cannot be retried: it would have to be submitted again.`,
      "Cancel job", running ? "Keep running" : "Keep it");
    if (ok) act("cancel");
  };
  if (["scheduled", "queued", "running", "retrying"].includes(job.status) && !job.cancel_requested) {
    buttons.push(h("button.btn.small.danger", { type: "button", "data-action": "cancel", onclick: cancel }, "Cancel"));
  }
  if (job.status === "failed" || job.dead) {
    buttons.push(h("button.btn.small", { type: "button", "data-action": "retry", onclick: () => act("retry") }, "Retry"));
  }
  return buttons;
}

export function problemBox(error) {
  return h("div.notice.bad", {}, error.message || String(error));
}

/** The admin-only pages (their endpoints are under /admin): a notice for any other key; true when shown. */
export function adminOnly(me, message, what) {
  if (me.role === "admin") return false;
  message.replaceChildren(h("p.notice", {}, `${what} are shown to admin keys only.`));
  return true;
}

/** Run `load` now and every `ms`; returns what stops it (a view's cleanup). */
export function refreshEvery(ms, load) {
  load();
  const timer = setInterval(load, ms);
  return () => clearInterval(timer);
}
