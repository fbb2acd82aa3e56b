// One job: status, progress, request, result (files, thumbnails), classified error, attempts timeline,
// children / follow-ups with their own statuses, trace id; live while it runs.

import { api, ApiError } from "./api.js";
import { ago, chip, clear, fmtBytes, fmtDuration, fmtElapsed, fmtTime, h, progress, seconds, shortId, took } from "./dom.js";
import { follow, merge } from "./live.js";
import { jobActions, liveSwitch, problemBox } from "./widgets.js";

const IMAGE = /\.(jpe?g|png|webp|gif|avif)$/i;
const MAX_CHILDREN = 100;
const ATTEMPT_LOG_LIMIT = 20; // the most runs a job's attempt_log keeps (jobcommon.models.ATTEMPT_LOG_LIMIT)
const FINISHED = ["succeeded", "failed", "cancelled"];

/** Every file a result names: objects with a `path` (downloads, their extras, imaging outputs), one entry per
 * path with what is known of it (size or bytes, width and height, kind or format). */
function files(result) {
  const byPath = new Map();
  const stack = [result];
  while (stack.length) {
    const item = stack.shift();
    if (Array.isArray(item)) stack.push(...item);
    else if (item && typeof item === "object") {
      if (typeof item.path === "string") {
        const known = byPath.get(item.path) || {};
        byPath.set(item.path, {
          path: item.path,
          size: item.size ?? item.bytes ?? known.size,
          width: item.width ?? known.width,
          height: item.height ?? known.height,
          kind: item.kind || item.format || item.ext || known.kind,
        });
      }
      stack.push(...Object.values(item).filter((v) => v && typeof v === "object"));
    }
  }
  return [...byPath.values()];
}

/** The attempts timeline: the server's attempt_log, or (older gateways) what the error history tells. */
function attemptLog(job) {
  if (Array.isArray(job.attempt_log)) return job.attempt_log;
  const log = (job.errors || []).map((e) => ({
    attempt: e.attempt, outcome: e.retry_in_s !== null && e.retry_in_s !== undefined ? "retry" : "failed",
    finished_at: e.at, error: { type: e.type, message: e.message }, worker: null,
  }));
  const last = log[log.length - 1];
  if (job.started_at && (!last || last.attempt < job.attempts)) {
    const outcome = { succeeded: "succeeded", cancelled: "cancelled", failed: "failed" }[job.status] || null;
    log.push({ attempt: job.attempts, worker: job.worker, started_at: job.started_at, finished_at: job.finished_at,
      outcome, run_s: seconds(job.started_at, job.finished_at), error: null });
  }
  return log;
}

/** Whether run `i` of the log began afresh: a retry by hand starts a new attempt budget (attempt 1 again).
 * A run handed back by a stopping worker ("reclaimed", not counted) is followed by the same number, and only a
 * finished job can be retried. */
function retriedByHand(log, i) {
  return i > 0 && log[i].attempt <= log[i - 1].attempt && log[i - 1].outcome !== "reclaimed";
}

/** "Attempts" as the record tells it: `attempts` counts since the last retry by hand (which resets the
 * budget), so after one the runs in all are said too (the timeline lists every run). */
function attemptsText(job) {
  const log = attemptLog(job);
  const budget = `${job.attempts} of ${job.max_attempts}`;
  const retries = log.filter((_, i) => retriedByHand(log, i)).length;
  if (!retries) return budget;
  const runs = log.length >= ATTEMPT_LOG_LIMIT ? `${log.length}+` : String(log.length);
  return `${budget} since the ${retries > 1 ? "last " : ""}retry by hand (${runs} runs in all)`;
}

function timeline(job) {
  const log = attemptLog(job);
  if (!log.length) return h("p.muted", {}, job.status === "queued" ? "Waiting for its first attempt." : "No attempts recorded.");
  const longest = Math.max(...log.map((a) => (a.wait_s || 0) + (a.run_s ?? seconds(a.started_at, a.finished_at) ?? 0)), 0.001);
  return h("div.timeline", { id: "attempts" }, log.map((a, i) => {
    const again = retriedByHand(log, i);
    const run = a.run_s ?? seconds(a.started_at, a.finished_at) ?? 0;
    const wait = a.wait_s || 0;
    const waitBar = h("span.wait");
    waitBar.style.width = `${(100 * wait) / longest}%`;
    const runBar = h("span.run");
    runBar.style.width = `${Math.max(1, (100 * run) / longest)}%`;
    const outcome = a.outcome || "running";
    return h(`div.attempt.${outcome}`, { "data-attempt": a.attempt, "data-run": i + 1, title: `attempt ${a.attempt}` },
      h("div.n", {}, String(i + 1)),
      h("div", {},
        h("div.meta", {},
          chip({ retry: "retrying", reclaimed: "retrying" }[outcome] || outcome, { retry: "failed, retried", reclaimed: "reclaimed from a lost worker" }[outcome], { retry: "retried", reclaimed: "reclaimed" }[outcome]),
          again ? h("span", {}, "retried by hand") : null,
          a.worker ? h("span.mono", {}, a.worker) : null,
          wait ? h("span", {}, `waited ${fmtDuration(wait)}`) : null,
          !a.outcome && a.started_at && job.status === "running" && i === log.length - 1
            ? h("span", {}, "running for ", h("span", { "data-running-since": a.started_at }, fmtElapsed(run)))
            : run ? h("span", {}, `ran ${fmtDuration(run)}`) : null,
          a.started_at ? h("span", { title: a.started_at }, fmtTime(a.started_at)) : null),
        h("div.track", {}, waitBar, runBar),
        a.error ? h("div.small.attempt-error", {}, h("span.mono", {}, a.error.type), ": ", a.error.message) : null));
  }));
}

/** "Copy id": the whole task id to the clipboard (where the page may not use the clipboard, e.g. served over
 * plain HTTP to another host, the id is selected for the person to copy). */
function copyButton(taskId) {
  const button = h("button.btn.small.ghost", { type: "button", id: "copy-id", title: `Copy ${taskId}` }, "Copy id");
  let timer = null;
  const said = (text) => {
    button.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => { button.textContent = "Copy id"; }, 2000);
  };
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(taskId);
      said("Copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("job-id"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      said("Selected: copy it");
    }
  });
  return button;
}

function facts(rows) {
  return h("dl.facts", {}, rows.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function fileList(job) {
  const found = files(job.result);
  if (!found.length) return null;
  return h("div.files", { id: "files" }, found.map((f) => {
    const url = `/ui/jobs/${job.task_id}/file?path=${encodeURIComponent(f.path)}`;
    return h("div.file", {},
      IMAGE.test(f.path) ? h("img.thumb", { src: url, alt: f.path.split("/").pop(), loading: "lazy" }) : null,
      h("div.file-text", {}, h("div.mono.small.path", {}, f.path),
        h("div.small.muted", {}, [f.kind, f.size !== undefined ? fmtBytes(f.size) : null, f.width && f.height ? `${f.width}×${f.height}` : null].filter(Boolean).join(" · "))));
  }));
}

export function render(root, ctx) {
  const taskId = ctx.arg;
  const body = h("div", { id: "job" });
  const live = liveSwitch(() => load());
  root.append(h("div.page-head", {}, h("a.btn.small.ghost", { href: "#/jobs" }, "← Jobs"), h("span.spacer"), live), body);
  let job = null;
  const childState = new Map();
  let items = null;
  let itemsDone = -1;

  async function loadItems(current) {
    const done = current.progress?.items_done ?? 0;
    if (!current.progress?.items_total || done === itemsDone) return false;
    itemsDone = done;
    items = await api(`/jobs/${taskId}/items`, { params: { limit: MAX_CHILDREN } }).catch(() => items);
    return true;
  }

  async function loadChildren(current) {
    const ids = current.children.slice(0, MAX_CHILDREN).filter((id) => !childState.has(id) || !["succeeded", "failed", "cancelled"].includes(childState.get(id).status));
    const found = await Promise.all(ids.map((id) => api(`/jobs/${id}/status`).catch(() => null)));
    for (const c of found) if (c) childState.set(c.task_id, c);
  }

  let newer = null; // this job as the stream reported it while a load was under way
  async function load() {
    newer = null;
    try {
      const answer = await api(`/jobs/${taskId}/status`);
      job = newer ? merge(answer, newer) : answer;
      if (job.children.length) await loadChildren(job);
      await loadItems(job);
      draw();
    } catch (error) {
      clear(body, error instanceof ApiError && error.status === 404 ? h("div.panel.empty", {}, `No job ${taskId} (unknown, expired, or not yours).`) : problemBox(error));
    }
  }

  function children() {
    if (!job.children.length && !job.parent_id) return null;
    return h("div.panel.pad", { id: "children" },
      h("h2", {}, job.children.length ? `Children (${job.children.length})` : "Parent"),
      job.parent_id ? h("p.small", {}, "Created by ", h("a.id", { href: `#/job/${job.parent_id}`, title: job.parent_id }, shortId(job.parent_id)), job.child_index !== null ? ` as entry ${job.child_index}` : "") : null,
      job.children.length ? h("ul.tree", {}, job.children.slice(0, MAX_CHILDREN).map((id, i) => {
        const c = childState.get(id);
        return h("li", { "data-task": id },
          h("span.idx", {}, String(i)),
          h("a.id", { href: `#/job/${id}`, title: id }, shortId(id)),
          c ? chip(c.status) : h("span.muted.small", {}, "…"),
          c ? h("span.small.muted", {}, c.job_type) : null,
          c && c.request?.url ? h("span.small.muted.mono.subject", { title: c.request.url }, c.request.url) : null,
          c?.error && c.status === "failed" ? h("span.mono.small", { title: c.error.message }, c.error.type) : null,
          c && ["running", "retrying"].includes(c.status) ? progress(c) : null);
      })) : null,
      job.children.length > MAX_CHILDREN ? h("p.small.muted", {}, `and ${job.children.length - MAX_CHILDREN} more`) : null);
  }

  function itemList() {
    if (!items || !items.total || job.children.length) return null;
    return h("div.panel.pad", { id: "items" },
      h("h2", {}, `Items (${items.total})`),
      h("ul.tree", {}, items.items.map((it, i) => h("li", { "data-index": items.offset + i },
        h("span.idx", {}, String(items.offset + i)),
        it ? chip(it.status) : h("span.chip.queued", {}, "pending"),
        it ? h("span.mono.small.subject", { title: it.item }, it.item) : null,
        it?.task_id ? h("a.id", { href: `#/job/${it.task_id}`, title: it.task_id }, shortId(it.task_id)) : null,
        it?.error ? h("span.small", {}, h("span.mono", {}, it.error.type), ": ", it.error.message) : null))),
      items.total > items.items.length ? h("p.small.muted", {}, `and ${items.total - items.items.length} more`) : null);
  }

  /** The bar, and the worker's last word while it runs (once the job has ended that word is stale: its
   * "extracting" under a failed job's bar said something untrue). */
  function progressBlock() {
    const running = !FINISHED.includes(job.status);
    return h("div", { id: "job-progress" }, progress(job),
      running && job.progress?.message ? h("p.small.muted", { id: "progress-message" }, job.progress.message) : null);
  }

  function draw() {
    const ran = took(job);
    const duration = ran.text ? h("span", { id: "job-took", "data-running-since": ran.live }, ran.text) : null;
    const traceValue = job.trace_id ? (job.trace_url ? h("a.mono.trace", { href: job.trace_url, rel: "noreferrer", target: "_blank" }, job.trace_id) : h("span.mono", {}, job.trace_id)) : null;
    clear(body,
      h("div.panel.pad", {},
        h("div.page-head", {},
          h("h1.id", { id: "job-id" }, job.task_id), copyButton(job.task_id), h("span", { id: "job-status" }, chip(job.status)), job.dead ? h("span.chip.dead", {}, "dead letter") : null,
          job.cancel_requested && !["cancelled", "succeeded", "failed"].includes(job.status) ? h("span.small.muted", {}, "cancel requested") : null,
          h("span.spacer"), h("span.actions", {}, jobActions(job, ctx.me, load))),
        progressBlock()),
      job.error ? h("div.panel.pad", { id: "error" }, h("h2", {}, "Error"),
        h("div.error-box", {}, h("span.etype", {}, job.error.type), h("div.error-message", {}, job.error.message))) : null,
      h("div.grid", {},
        h("div.panel.pad", {}, h("h2", {}, "Details"), facts([
          ["Type", job.job_type], ["Queue", job.queue], ["Priority", job.priority], ["Owner", job.owner],
          ["Created", h("span", { title: job.created_at }, `${fmtTime(job.created_at)} (${ago(job.created_at)})`)],
          ["Started", fmtTime(job.started_at)], ["Finished", fmtTime(job.finished_at)], ["Took", duration],
          ["Attempts", h("span", { id: "job-attempts" }, attemptsText(job))],
          [job.status === "scheduled" ? "Runs at" : "Next attempt", job.next_attempt_at ? fmtTime(job.next_attempt_at) : null],
          ["Worker", job.worker ? h("span.mono", {}, job.worker) : null],
          ["Trace", traceValue],
        ])),
        h("div.panel.pad", {}, h("h2", {}, "Attempts"), timeline(job))),
      children(),
      itemList(),
      h("div.grid", {},
        h("div.panel.pad", {}, h("h2", {}, "Request"), h("pre", { id: "request" }, JSON.stringify(job.request, null, 2))),
        job.result ? h("div.panel.pad", { id: "result" }, h("h2", {}, "Result"), fileList(job),
          h("details", { open: !files(job.result).length }, h("summary.small.muted", {}, "JSON"), h("pre", {}, JSON.stringify(job.result, null, 2)))) : null));
  }

  let drawTimer = null;
  /** Children report often (a playlist's entries downloading): redraw at most five times a second. */
  function scheduleDraw() {
    if (!drawTimer) drawTimer = setTimeout(() => { drawTimer = null; draw(); }, 200);
  }

  let itemsTimer = null;
  function throttledItems() {
    if (itemsTimer) return;
    itemsTimer = setTimeout(async () => {
      itemsTimer = null;
      if (await loadItems(job)) draw();
    }, 1000);
  }

  function onEvent({ kind, job: event }) {
    if (event.task_id === taskId) {
      const before = job;
      const changed = merge(before, event);
      newer = changed;
      job = changed;
      if (kind === "status" && before && before.status !== job.status && ["succeeded", "failed", "cancelled"].includes(job.status)) {
        load(); // the stream's job has no result: read the whole record once it has ended
        return;
      }
      const bar = body.querySelector("#job-progress");
      if (before && bar && before.status === job.status && before.cancel_requested === job.cancel_requested
        && before.children.length === job.children.length) {
        // Only the progress moved: redraw that alone (buttons and selections stay put).
        bar.replaceWith(progressBlock());
        if (job.progress?.items_total && job.progress.items_done !== itemsDone) throttledItems();
      } else if (!before || job.children.length !== before.children.length) loadChildren(job).then(draw);
      else loadItems(job).then(draw);
    } else if (job && job.children.includes(event.task_id)) {
      childState.set(event.task_id, merge(childState.get(event.task_id), event));
      scheduleDraw();
    }
  }

  load();
  const stop = follow(onEvent, load);
  return () => { stop(); live.stop(); clearTimeout(itemsTimer); clearTimeout(drawTimer); };
}
