// Jobs: status tabs with counts, filters and search kept in the URL, cursor pages, rows updated live.

import { api } from "./api.js";
import { ago, chip, clear, h, progress, shortId, took, wordBreaks } from "./dom.js";
import { follow, merge } from "./live.js";
import { go, href } from "./nav.js";
import { idMatches, idPattern, LOOKED_AT, noJobWithId } from "./task_ids.js";
import { canAct, jobActions, liveSwitch, problemBox } from "./widgets.js";

export const STATUSES = ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"];
const RANGES = [["", "Any time"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"]];
const RANGE_S = { "1h": 3600, "24h": 86400, "7d": 7 * 86400 };
const PAGE_SIZE = 50;

let typesCache = null;
export async function jobTypes() {
  if (!typesCache) typesCache = api("/jobs/types").catch(() => null);
  return typesCache;
}

const first = (list) => (Array.isArray(list) ? list.filter((x) => typeof x === "string" && x) : []);

/** A list's first entry, "and N more" when there are others. */
function firstOf(list) {
  const [head, ...rest] = first(list);
  if (!head) return "";
  return rest.length ? `${head} and ${rest.length} more` : head;
}

/** What a job is about in one line, from the most telling input of its type (GET /jobs/types): the title it
 * was given, else the one it found (a finished download's), else its URL, its first source or item ("and N
 * more"), a music lookup's "artist – title", an echo's payload. The request shown is the API's (masked). */
export function subject(job) {
  const r = job.request || {};
  const found = job.result && typeof job.result.title === "string" ? job.result.title : "";
  const str = (v) => (typeof v === "string" ? v.trim() : "");
  if (str(r.artist)) return [str(r.artist), str(r.title)].filter(Boolean).join(" – ");
  return str(r.title) || found || str(r.url) || firstOf(r.sources) || firstOf(r.items) || str(r.source)
    || (r.payload && typeof r.payload === "object" && Object.keys(r.payload).length ? JSON.stringify(r.payload) : "");
}

/** The subject, and the URL too where the subject is a title. */
function subjectTip(job) {
  const shown = subject(job);
  const url = job.request?.url;
  return url && url !== shown ? `${shown}\n${url}` : shown;
}

function listParams(p, withStatus = true) {
  return {
    status: withStatus ? p.status : null,
    job_type: p.job_type, queue: p.queue, owner: p.owner, q: p.q,
    since: RANGE_S[p.range] ? new Date(Date.now() - RANGE_S[p.range] * 1000).toISOString() : null,
  };
}

export function render(root, ctx) {
  const { me } = ctx;
  const p = { ...ctx.params };
  const admin = me.role === "admin";
  const rows = new Map();
  let lastQueues = [];

  const tabs = h("nav.tabs", { "aria-label": "Status" });
  const tbody = h("tbody", { id: "jobs-body" });
  const pager = h("div.pager");
  const message = h("div");
  const live = liveSwitch(() => load());
  const typeSelect = h("select", { id: "f-type", "aria-label": "Job type", onchange: (e) => update({ job_type: e.target.value }) }, h("option", { value: "" }, "All types"));
  const queueSelect = h("select", { id: "f-queue", "aria-label": "Queue", onchange: (e) => update({ queue: e.target.value }) }, h("option", { value: "" }, "All queues"));
  const rangeSelect = h("select", { id: "f-range", "aria-label": "Created", onchange: (e) => update({ range: e.target.value }) },
    RANGES.map(([v, label]) => h("option", { value: v, selected: (p.range || "") === v }, label)));
  const search = h("input.search", {
    id: "f-q", type: "search", placeholder: "Search URL, title, error or job id…", value: p.q || "", "aria-label": "Search jobs by URL, title, error or job id",
    oninput: debounce((e) => update({ q: e.target.value.trim() }), 350),
  });
  const owner = admin ? h("input", {
    id: "f-owner", type: "text", placeholder: "Owner", value: p.owner || "", "aria-label": "Owner", size: 10,
    onchange: (e) => update({ owner: e.target.value.trim() }),
  }) : null;

  const head = h("div.page-head", {}, h("h1", {}, "Jobs"), h("span.spacer"), live,
    canAct(me) ? h("a.btn.primary.small", { href: "#/submit" }, "New job") : null);
  const cols = ["Job", "Type", "Status", "Progress", admin ? "Owner" : null, "Created", "Took", ""].filter((c) => c !== null);
  const table = h("div.panel", {},
    h("div.table-wrap", {}, h("table", { id: "jobs-table" },
      h("thead", {}, h("tr", {}, cols.map((c) => h(`th${["Created", "Took", "Type", "Owner", "Status"].includes(c) ? ".hide-sm" : ""}${["Owner", "Created"].includes(c) ? ".hide-md" : ""}${c === "Took" ? ".num" : ""}`,
        { title: c === "Took" ? "How long it ran (its last run); a running job: so far" : null }, c)))),
      tbody)),
    pager);
  root.append(head, tabs, h("div.filters", {}, search, typeSelect, queueSelect, rangeSelect, owner), message, table);

  function update(changes) {
    Object.assign(p, changes);
    delete p.cursor;
    delete p.offset;
    ctx.setParams({ ...p });
    renderTabs(null);
    load();
  }

  function renderTabs(counts) {
    const all = [["", "All", counts ? counts.total : null], ...STATUSES.map((s) => [s, s[0].toUpperCase() + s.slice(1), counts ? counts.counts?.[s] ?? 0 : null])];
    clear(tabs, all.map(([s, label, n]) => h(`a${(p.status || "") === s ? ".active" : ""}`, {
      href: href("jobs", null, { ...p, status: s, cursor: null, offset: null }), "data-status": s || "all",
    }, label, n === null ? null : h("span.count", {}, `${n}${counts.approximate ? "+" : ""}`))));
  }

  function row(job) {
    const cells = [
      h("td.nowrap", {}, h("a.id", { href: `#/job/${job.task_id}`, title: job.task_id }, shortId(job.task_id)),
        subject(job) ? h("div.small.muted.subject", { title: subjectTip(job) }, truncate(subject(job), 60)) : null,
        h("div.show-sm", {}, chip(job.status))),
      h("td.hide-sm", {}, job.job_type),
      h("td.hide-sm", {}, chip(job.status), job.dead ? [" ", h("span.chip.dead", {}, "dead")] : null),
      h("td", {}, job.status === "failed" && job.error
        ? h("span.small.mono.break", { title: job.error.message }, wordBreaks(job.error.type))
        : progress(job, { withMessage: true })),
      admin ? h("td.small.hide-sm.hide-md", {}, job.owner || "") : null,
      h("td.small.muted.hide-sm.hide-md.nowrap", { title: job.created_at, "data-ago": job.created_at }, ago(job.created_at)),
      h("td.small.muted.hide-sm.num.nowrap.took", { "data-running-since": took(job).live }, took(job).text),
      h("td.actions", {}, jobActions(job, me, load)),
    ];
    return h("tr", {
      "data-task": job.task_id, "data-status": job.status, "data-cancel": String(Boolean(job.cancel_requested)),
      "data-started": job.started_at || "",
    }, cells);
  }

  let loading = 0;
  const fresh = new Map(); // jobs the stream reported while a load was under way: newer than its answer
  async function load() {
    const mine = ++loading;
    fresh.clear();
    const params = { ...listParams(p), limit: PAGE_SIZE, cursor: p.cursor, offset: p.offset };
    try {
      const [page, counts, types] = await Promise.all([
        api("/jobs/list", { params }),
        api("/jobs/counts", { params: listParams(p, false) }),
        jobTypes(),
      ]);
      if (mine !== loading) return;
      clear(message);
      renderTabs(counts);
      fillSelects(types ? types.map((t) => t.name) : [...new Set(page.jobs.map((j) => j.job_type))], page.queues, Boolean(types));
      rows.clear();
      const listed = page.jobs.map((job) => merge(job, fresh.get(job.task_id) || job));
      // Jobs the stream announced while the list was read, newer than its newest: not in its answer yet.
      const ids = new Set(listed.map((job) => job.task_id));
      const newest = listed[0]?.created_at || "";
      const arrived = !p.cursor && !p.offset ? [...fresh.values()].filter((job) => !ids.has(job.task_id)
        && matches(job) && job.created_at >= newest).sort((a, b) => (a.created_at < b.created_at ? 1 : -1)) : [];
      const jobs = [...arrived, ...listed].slice(0, PAGE_SIZE);
      known.clear();
      asked.clear();
      for (const job of jobs) known.set(job.task_id, job);
      clear(tbody, jobs.map((job) => { const tr = row(job); rows.set(job.task_id, tr); return tr; }));
      for (const job of arrived) if (lacking(job)) { asked.add(lacking(job)); readWhole(job.task_id); }
      if (!jobs.length) tbody.append(h("tr", {}, h("td.empty", { colspan: cols.length }, nothingFound())));
      else idNote(jobs);
      renderPager(page);
    } catch (error) {
      if (mine === loading) clear(message, problemBox(error));
    }
  }

  const filtered = () => Boolean(p.status || p.job_type || p.queue || p.range || p.owner);
  function nothingFound() {
    const pattern = idPattern(p.q);
    return pattern ? noJobWithId(p.q, pattern, { admin, filtered: filtered() }) : "No jobs match.";
  }

  /** A search that reads as a task id and found jobs by their words only: say that no id matched. */
  function idNote(jobs) {
    const pattern = idPattern(p.q);
    if (!pattern || p.cursor || jobs.some((job) => idMatches(pattern, job.task_id))) return;
    const among = pattern.whole ? "" : ` among the ${LOOKED_AT} newest`;
    clear(message, h("p.notice.small", { id: "id-note" },
      `No job id${among} matches “${p.q}”; these jobs hold it in their URL, title or error.`));
  }

  let typesFinal = false;
  function fillSelects(names, queues, final) {
    if (!typesFinal) {
      const known = new Set([...typeSelect.options].map((o) => o.value));
      for (const n of [...names, p.job_type].filter(Boolean)) {
        if (!known.has(n)) { known.add(n); typeSelect.append(h("option", { value: n, selected: p.job_type === n }, n)); }
      }
      typesFinal = final;
    }
    const qs = Object.keys(queues || {});
    if (qs.join() !== lastQueues.join()) {
      lastQueues = qs;
      clear(queueSelect, h("option", { value: "" }, "All queues"), qs.map((q) => h("option", { value: q, selected: p.queue === q }, q)));
    }
  }

  function renderPager(page) {
    const first = !p.cursor && !p.offset;
    const next = page.next_cursor ? { cursor: page.next_cursor } : page.next_offset ? { offset: page.next_offset } : null;
    clear(pager,
      h("span.small.muted", {}, `${page.jobs.length} shown`),
      h("button.btn.small", { type: "button", disabled: first, id: "page-first", onclick: () => go("jobs", null, { ...p, cursor: null, offset: null }) }, "Newest"),
      h("button.btn.small", { type: "button", disabled: !next, id: "page-next", onclick: () => go("jobs", null, { ...p, cursor: null, offset: null, ...next }) }, "Older →"));
  }

  const matches = (job) => (!p.status || job.status === p.status) && (!p.job_type || job.job_type === p.job_type)
    && (!p.queue || job.queue === p.queue) && (!p.owner || job.owner === p.owner) && !p.q;

  let countsTimer = null;
  function refreshCounts() {
    if (countsTimer) return;
    countsTimer = setTimeout(async () => {
      countsTimer = null;
      const counts = await api("/jobs/counts", { params: listParams(p, false) }).catch(() => null);
      if (counts) renderTabs(counts);
    }, 1000);
  }

  const known = new Map(); // task id -> the whole job as last listed (the stream's jobs lack request/result)

  // The stream's jobs come without request and result: a row it adds reads its job's whole record once
  // (and once more when a download without a title succeeds, for the title it found), so it shows the same
  // subject as after a reload. Rows scrolled off before their turn are not read; a few reads at a time.
  const toRead = new Set();
  let reading = 0;
  const READERS = 4;
  function readWhole(taskId) {
    toRead.add(taskId);
    while (reading < READERS && toRead.size) {
      const next = toRead.values().next().value;
      toRead.delete(next);
      if (!rows.has(next)) continue;
      reading += 1;
      api(`/jobs/${encodeURIComponent(next)}/status`)
        .then((whole) => {
          const current = known.get(next);
          if (!current) return;
          const job = { ...current, request: whole.request, result: whole.result ?? current.result };
          known.set(next, job);
          if (fresh.has(next)) fresh.set(next, job);
          const old = rows.get(next);
          if (old) { const tr = row(job); old.replaceWith(tr); rows.set(next, tr); }
        })
        .catch(() => {}) // gone (purged) or the gateway away: the row keeps what it has
        .finally(() => { reading -= 1; if (toRead.size) readWhole(toRead.values().next().value); });
    }
  }
  const asked = new Set(); // what was read already: "<id>" for a request, "<id> result" for a result
  function lacking(job) {
    if (!Object.keys(job.request || {}).length) return job.task_id;
    // a finished download without a given title: the subject becomes the title it found
    const found = job.status === "succeeded" && job.result == null && job.request.url && !job.request.title;
    return found ? `${job.task_id} result` : null;
  }

  function onEvent({ kind, job: changed }) {
    const job = merge(known.get(changed.task_id) || fresh.get(changed.task_id), changed);
    fresh.set(job.task_id, job);
    known.set(job.task_id, job);
    const old = rows.get(job.task_id);
    if (old && old.dataset.status === job.status && old.dataset.cancel === String(Boolean(job.cancel_requested))
      && old.dataset.started === (job.started_at || "")) {
      // Only the progress moved: replace that cell alone, so buttons under the pointer stay put (a running
      // job's "Took" counts up by itself: main.js).
      const cell = old.querySelector(".progress")?.parentElement;
      if (cell) clear(cell, progress(job, { withMessage: true }));
    } else if (old) {
      const tr = row(job);
      old.replaceWith(tr);
      rows.set(job.task_id, tr);
    } else if (!p.cursor && !p.offset && matches(job)) {
      tbody.querySelector("td.empty")?.parentElement.remove();
      const tr = row(job);
      tbody.prepend(tr);
      rows.set(job.task_id, tr);
      if (rows.size > PAGE_SIZE) { const lastRow = tbody.lastElementChild; rows.delete(lastRow.dataset.task); lastRow.remove(); }
    }
    const need = rows.has(job.task_id) ? lacking(job) : null;
    if (need && !asked.has(need)) { asked.add(need); readWhole(job.task_id); }
    if (kind === "status") refreshCounts();
  }

  renderTabs(null);
  load();
  const stop = follow(onEvent, load);
  return () => { stop(); live.stop(); clearTimeout(countsTimer); };
}

function truncate(text, n) { return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
