// Queues (GET /admin/queues): length, lag (and per priority lane), pending, consumers, oldest waiting, sparklines of the janitor's
// samples, and a warning when a queue has nobody consuming it. Refreshed every 5 s.

import { api } from "./api.js";
import { clear, fmtDuration, h, sparkline } from "./dom.js";
import { adminOnly, problemBox, refreshEvery } from "./widgets.js";

const REFRESH_MS = 5000;

function stat(label, value, id) {
  return h("div.stat", { "data-stat": id }, h("div.v", {}, String(value)), h("div.k", {}, label));
}

/** Waiting jobs per priority lane (high / normal / low). */
function lanes(byPriority) {
  if (!byPriority) return null;
  const count = (p) => byPriority[p] ?? 0;
  return h("div.stat", { "data-stat": "lanes", title: "waiting per priority: high / normal / low" },
    h("div.v", {}, `${count("high")} / ${count("normal")} / ${count("low")}`), h("div.k", {}, "high / normal / low"));
}

function spark(samples, field, label, format) {
  const values = samples.map((s) => Number(s[field] ?? 0));
  const last = values.length ? values[values.length - 1] : null;
  return h("div", {},
    h("div.spark-label", {}, h("span", {}, label), h("span", {}, last === null ? "–" : format(last))),
    sparkline(values, label));
}

function card(q) {
  const noConsumers = (q.consumers === 0 || q.workers === 0) && (q.length > 0 || q.lag > 0);
  const idle = q.consumers === 0 && q.workers === 0;
  return h("div.panel.pad.queue", { "data-queue": q.queue },
    h("div.page-head", {}, h("h2", {}, q.queue), h("span.spacer"),
      q.oldest_waiting_s ? h("span.small.muted", {}, `oldest waiting ${fmtDuration(q.oldest_waiting_s)}`) : h("span.small.muted", {}, "nothing waiting")),
    noConsumers || idle ? h("div.warn", { "data-warning": "no-consumers" }, "⚠ No consumers: jobs on this queue will wait until a worker starts.") : null,
    h("div.stats", {},
      stat("waiting (lag)", q.lag, "lag"), lanes(q.lag_by_priority), stat("pending", q.pending, "pending"), stat("in stream", q.length, "length"),
      stat("consumers", q.consumers, "consumers"), stat("live workers", q.workers ?? "–", "workers"),
      stat("oldest wait", q.oldest_waiting_s ? fmtDuration(q.oldest_waiting_s) : "0", "oldest")),
    q.samples.length
      ? h("div.sparks", {},
        spark(q.samples, "lag", "Waiting", String),
        spark(q.samples, "throughput_per_min", "Done/min", (v) => v.toFixed(v < 10 ? 1 : 0)),
        spark(q.samples, "wait_p50_s", "Wait p50", fmtDuration))
      : h("p.small.muted", {}, "No samples yet: the janitor takes one every 10 s."));
}

export function render(root, ctx) {
  const body = h("div.grid", { id: "queues" });
  const message = h("div");
  root.append(h("div.page-head", {}, h("h1", {}, "Queues"), h("span.spacer"), h("span.small.muted", {}, "refreshed every 5 s")), message, body);
  if (adminOnly(ctx.me, message, "Queues")) return null;
  async function load() {
    try {
      const found = await api("/admin/queues");
      clear(message);
      clear(body, found.map(card));
    } catch (error) {
      clear(message, problemBox(error));
    }
  }
  return refreshEvery(REFRESH_MS, load);
}
