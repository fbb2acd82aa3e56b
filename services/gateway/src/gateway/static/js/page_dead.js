// Dead letters: grouped by error type; retry or purge one, a selection, or all that match the filter (after a
// dry-run count and a confirmation).

import { api } from "./api.js";
import { ago, clear, confirmDialog, h, shortId, toast, wordBreaks } from "./dom.js";
import { jobTypes, subject } from "./page_jobs.js";
import { canAct, problemBox } from "./widgets.js";

const LIMIT = 200;
const BATCH = 1000; // the gateway's bound per bulk call

function errorText(job) {
  return [h("span.mono.small.break", {}, wordBreaks(job.error?.type || "")), h("div.small.muted.break", {}, job.error?.message || "")];
}

export function render(root, ctx) {
  const { me } = ctx;
  const p = { ...ctx.params };
  const admin = me.role === "admin";
  const acts = canAct(me);
  const selected = new Set();
  let letters = [];

  const groups = h("div.groups", { id: "dead-groups" });
  const tbody = h("tbody", { id: "dead-body" });
  const message = h("div");
  const total = h("span.count", {}, "");
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select all shown", id: "dead-select-all", onchange: (e) => {
    for (const l of letters) { if (e.target.checked) selected.add(l.job.task_id); else selected.delete(l.job.task_id); }
    drawRows();
  } });
  const selectedButtons = [];
  const bulk = acts ? h("div.bulkbar", {},
    selectedButton("Retry selected", "retry", false),
    admin ? selectedButton("Purge selected", "purge", true) : null,
    h("span.spacer"),
    h("button.btn.small", { type: "button", id: "retry-matching", onclick: () => matching("retry") }, "Retry all matching…"),
    admin ? h("button.btn.small.danger", { type: "button", id: "purge-matching", onclick: () => matching("purge") }, "Purge all matching…") : null) : null;
  const typeSelect = h("select", { "aria-label": "Job type", onchange: (e) => update({ job_type: e.target.value }) }, h("option", { value: "" }, "All types"));
  const search = h("input.search", { type: "search", placeholder: "Search URL, title, error or job id…", value: p.q || "", "aria-label": "Search dead letters by URL, title, error or job id",
    onchange: (e) => update({ q: e.target.value.trim() }) });

  root.append(
    h("div.page-head", {}, h("h1", {}, "Dead letters"), total),
    groups,
    h("div.filters", {}, search, typeSelect),
    message,
    h("div.panel", {}, bulk, h("div.table-wrap", {}, h("table", { id: "dead-table" },
      h("thead", {}, h("tr", {}, acts ? h("th.sel", {}, selectAll) : null,
        ["Job", "Type", "Error", "Attempts", admin ? "Owner" : null, "Died", ""].filter((c) => c !== null)
          .map((c) => h(`th${["Type", "Error", "Attempts", "Owner", "Died"].includes(c) ? ".hide-sm" : ""}${c === "Attempts" ? ".num" : ""}`, {}, c)))),
      tbody))));

  function selectedButton(label, verb, danger) {
    const b = h(`button.btn.small${danger ? ".danger" : ""}`, { type: "button", id: `${verb}-selected`, disabled: true, onclick: () => onSelected(verb) }, label);
    b.dataset.label = label;
    selectedButtons.push(b);
    return b;
  }

  function update(changes) {
    Object.assign(p, changes);
    for (const k of Object.keys(p)) if (!p[k]) delete p[k];
    ctx.setParams({ ...p });
    selected.clear();
    load();
  }

  const filter = () => ({ error_type: p.error_type || null, job_type: p.job_type || null, q: p.q || null });
  // The filter in words ("" for none), for the empty table and the bulk actions' confirmation.
  const described = () => [p.error_type && `error type ${p.error_type}`, p.job_type && `job type ${p.job_type}`, p.q && `“${p.q}”`].filter(Boolean).join(", ");

  async function load() {
    try {
      const params = { ...filter(), limit: LIMIT };
      const [summary, found] = await Promise.all([
        api("/jobs/dead/summary", { params: { job_type: p.job_type, q: p.q } }),
        api("/jobs/dead", { params }),
      ]);
      letters = found;
      const types = await jobTypes();
      if (types && typeSelect.options.length === 1) for (const t of types) typeSelect.append(h("option", { value: t.name, selected: p.job_type === t.name }, t.name));
      clear(message);
      drawGroups(summary);
      drawRows();
    } catch (error) {
      clear(message, problemBox(error));
    }
  }

  function drawGroups(summary) {
    total.textContent = String(summary.total);
    clear(groups,
      h(`button.group${p.error_type ? "" : ".active"}`, { type: "button", onclick: () => update({ error_type: "" }) }, "All", h("span.count", {}, String(summary.total))),
      summary.groups.map((g) => h(`button.group${p.error_type === g.error_type ? ".active" : ""}`, {
        type: "button", "data-error-type": g.error_type, onclick: () => update({ error_type: g.error_type }),
        title: g.job_types ? Object.entries(g.job_types).map(([t, n]) => `${t}: ${n}`).join(", ") : null,
      }, h("span.etype", {}, g.error_type), h("span.count", {}, String(g.count)))));
  }

  function drawRows() {
    for (const b of selectedButtons) {
      b.disabled = !selected.size;
      b.textContent = selected.size ? `${b.dataset.label} (${selected.size})` : b.dataset.label;
    }
    selectAll.checked = letters.length > 0 && letters.every((l) => selected.has(l.job.task_id));
    if (!letters.length) {
      clear(tbody, h("tr", {}, h("td.empty", { colspan: 8 }, described() ? `No dead letter matches ${described()}.` : "No dead letters. Nice.")));
      return;
    }
    clear(tbody, letters.map(({ job }) => h("tr", { "data-task": job.task_id },
      acts ? h("td.sel", {}, h("input", { type: "checkbox", "aria-label": `Select ${job.task_id}`, checked: selected.has(job.task_id),
        onchange: (e) => { if (e.target.checked) selected.add(job.task_id); else selected.delete(job.task_id); drawRows(); } })) : null,
      h("td", {}, h("a.id", { href: `#/job/${job.task_id}`, title: job.task_id }, shortId(job.task_id)),
        subject(job) ? h("div.small.muted.subject", { title: subject(job) }, subject(job).slice(0, 60)) : null,
        h("div.show-sm", {}, errorText(job))), // on a phone the error goes under the job: room to read it
      h("td.hide-sm", {}, job.job_type),
      h("td.hide-sm", {}, errorText(job)),
      h("td.num.hide-sm", {}, `${job.attempts}/${job.max_attempts}`),
      admin ? h("td.small.hide-sm", {}, job.owner || "") : null,
      h("td.small.muted.nowrap.hide-sm", {}, ago(job.finished_at)),
      h("td.actions", {}, acts ? [
        h("button.btn.small", { type: "button", "data-action": "retry", onclick: () => act("retry", [job.task_id]) }, "Retry"),
        admin ? h("button.btn.small.danger", { type: "button", "data-action": "purge", onclick: async () => {
          if (await confirmDialog("Purge this dead letter?", `${job.task_id} is removed for good, with its record.`, "Purge")) act("purge", [job.task_id]);
        } }, "Purge") : null,
      ] : null))));
  }

  async function act(verb, ids) {
    try {
      const answer = await api(`/jobs/dead/${verb}`, { method: "POST", body: { task_ids: ids } });
      const done = answer[verb === "retry" ? "retried" : "purged"];
      toast(`${verb === "retry" ? "Retried" : "Purged"} ${done} dead letter${done === 1 ? "" : "s"}`);
      selected.clear();
      load();
    } catch (error) {
      toast(`${verb} failed: ${error.message}`, true);
    }
  }

  async function onSelected(verb) {
    const ids = [...selected];
    const ok = await confirmDialog(`${verb === "retry" ? "Retry" : "Purge"} ${ids.length} dead letter${ids.length === 1 ? "" : "s"}?`,
      verb === "retry" ? "Each runs again with a fresh attempt budget." : "They are removed for good, with their records.",
      verb === "retry" ? "Retry" : "Purge");
    if (ok) act(verb, ids);
  }

  async function matching(verb) {
    const what = described() || "no filter: every dead letter";
    try {
      const count = (await api(`/jobs/dead/${verb}`, { method: "POST", body: { filter: filter(), dry_run: true } })).matched;
      if (!count) { toast("Nothing matches."); return; }
      const ok = await confirmDialog(`${verb === "retry" ? "Retry" : "Purge"} ${count} dead letter${count === 1 ? "" : "s"}?`,
        `All that match ${what}.${verb === "purge" ? " They are removed for good." : ""}`, `${verb === "retry" ? "Retry" : "Purge"} ${count}`);
      if (!ok) return;
      // The gateway takes at most 1000 per call: repeat while whole batches go through.
      let total = 0;
      for (let round = 0; round < 100; round += 1) {
        const answer = await api(`/jobs/dead/${verb}`, { method: "POST", body: { filter: filter(), dry_run: false } });
        const n = answer[verb === "retry" ? "retried" : "purged"];
        total += n;
        if (n < BATCH) break;
      }
      toast(`${verb === "retry" ? "Retried" : "Purged"} ${total} of ${count}`);
      selected.clear();
      load();
    } catch (error) {
      toast(`${verb} failed: ${error.message}`, true);
    }
  }

  load();
  return null;
}
