// Building DOM nodes (text is always text: no HTML from data ever reaches innerHTML) and formatting numbers.

const SVG_NS = "http://www.w3.org/2000/svg";

/** h("a.btn.small", {href, onclick, dataset: {...}}, child, ...) -> Element. Children: nodes, strings, arrays, null. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const svg = ["svg", "polyline", "polygon", "line", "rect", "title"].includes(tag);
  const el = svg ? document.createElementNS(SVG_NS, tag) : document.createElement(tag || "div");
  if (classes.length) el.setAttribute("class", classes.join(" "));
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "class") el.setAttribute("class", [el.getAttribute("class"), value].filter(Boolean).join(" "));
    else if (name === "value" && !svg) el.value = value;
    else if (name === "checked" && !svg) el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "";
  const s = Number(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A download's estimate of the time left: "<1 s" near the end (never "0 ms"), whole seconds below a minute. */
export function fmtEta(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s)) return "";
  if (s < 1) return "<1 s";
  if (s < 60) return `${Math.round(s)} s`;
  return fmtDuration(s);
}

/** How long a job has been running so far, in whole seconds below a minute (it is redrawn every second). */
export function fmtElapsed(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s)) return "";
  return s < 60 ? `${Math.floor(s)} s` : fmtDuration(s);
}

/** What a job's "Took" says: a finished job's run time (its last run's), a running job's time running so far
 * (`live` then holds its start, for a view to keep it current: see main.js), nothing for a job that waits
 * (queued, scheduled, retrying: an earlier attempt's start says nothing about it). */
export function took(job) {
  if (!job.started_at || !job.attempts) return { text: "", live: null };
  if (job.status === "running") return { text: fmtElapsed(seconds(job.started_at, null)), live: job.started_at };
  if (!["succeeded", "failed", "cancelled"].includes(job.status)) return { text: "", live: null };
  const log = Array.isArray(job.attempt_log) ? job.attempt_log : [];
  const last = log[log.length - 1];
  const run = last && last.run_s !== null && last.run_s !== undefined ? last.run_s : job.finished_at ? seconds(job.started_at, job.finished_at) : null;
  return { text: run === null ? "" : fmtDuration(run), live: null };
}

export function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function seconds(fromIso, toIso) {
  if (!fromIso) return null;
  const end = toIso ? Date.parse(toIso) : Date.now();
  return Math.max(0, (end - Date.parse(fromIso)) / 1000);
}

/** An identifier with the places it may wrap at marked (<wbr>): between its words ("Blocked|Address|Error",
 * "image_|processing"), so that a narrow column does not cut it mid-word. */
export function wordBreaks(text) {
  return String(text).split(/(?<=[a-z0-9])(?=[A-Z])|(?<=[_.\/-])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

export function shortId(id) {
  return id ? `${id.slice(0, 8)}…${id.slice(-4)}` : "";
}

export function chip(status, title = "", label = "") {
  return h(`span.chip.${status}`, { "data-status": status, title: title || null }, label || status);
}

/** A progress bar with its text line: percent, bytes (done / total), speed and ETA, or items for bulk jobs. */
export function progress(job, { withMessage = false } = {}) {
  const p = job.progress || {};
  const done = job.status === "succeeded";
  const pct = done ? 100 : p.percent ?? (p.items_total ? (100 * (p.items_done || 0)) / p.items_total : null);
  const fill = h("span");
  fill.style.width = `${Math.max(0, Math.min(100, pct ?? 0))}%`;
  const bar = h(`div.bar.${job.status}`, {
    role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": pct === null ? null : Math.round(pct),
  }, fill);
  const parts = [];
  if (pct !== null) parts.push(h("span.pct", {}, `${pct.toFixed(pct < 10 && pct > 0 ? 1 : 0)}%`));
  if (p.downloaded_bytes !== null && p.downloaded_bytes !== undefined) {
    parts.push(h("span", {}, p.total_bytes ? `${fmtBytes(p.downloaded_bytes)} / ${fmtBytes(p.total_bytes)}` : fmtBytes(p.downloaded_bytes)));
  }
  if (p.speed && !job.status.match(/succeeded|failed|cancelled/)) parts.push(h("span", {}, `${fmtBytes(p.speed)}/s`));
  if (p.eta !== null && p.eta !== undefined && job.status === "running" && !(pct >= 100)) parts.push(h("span", {}, `ETA ${fmtEta(p.eta)}`));
  if (p.items_total) parts.push(h("span", {}, `${p.items_done || 0}/${p.items_total} items${p.items_failed ? `, ${p.items_failed} failed` : ""}${p.items_cancelled ? `, ${p.items_cancelled} cancelled` : ""}`));
  // words where no number says it ("its worker was lost; queued again"), and always between attempts
  // ("next attempt in 4.0 s; ...": a bulk job's percent is its items')
  if (withMessage && p.message && (pct === null ? !job.status.match(/succeeded|failed|cancelled/) : job.status === "retrying")) {
    parts.push(h("span.progress-message", { title: p.message }, p.message));
  }
  return h("div.progress", { "data-percent": pct === null ? "" : pct.toFixed(1) }, bar, h("div.progress-text", {}, parts));
}

/** An inline SVG sparkline of `values` (no axes: the min and max are printed beside it). */
export function sparkline(values, label) {
  const w = 120;
  const ht = 30;
  const svg = h("svg.spark", { viewBox: `0 0 ${w} ${ht}`, preserveAspectRatio: "none", role: "img", "aria-label": label });
  if (!values.length) return svg;
  const max = Math.max(...values, 1);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(ht - 2 - (v / max) * (ht - 4)).toFixed(1)}`);
  if (values.length === 1) pts.push(`${w},${pts[0].split(",")[1]}`);
  svg.append(h("polygon", { points: `0,${ht} ${pts.join(" ")} ${w},${ht}` }), h("polyline", { points: pts.join(" ") }));
  return svg;
}

export function toast(text, bad = false) {
  const box = document.getElementById("toasts");
  const el = h(`div.toast${bad ? ".bad" : ""}`, {}, text);
  box.append(el);
  setTimeout(() => el.remove(), bad ? 7000 : 3500);
}

/** The confirmation dialog: resolves true when confirmed. */
export function confirmDialog(title, text, okLabel = "Confirm", dismissLabel = "Cancel") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  document.getElementById("confirm-dismiss").textContent = dismissLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}
