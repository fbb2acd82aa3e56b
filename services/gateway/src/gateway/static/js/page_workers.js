// Workers (GET /admin/workers): live service instances (replicas), what they run, their last heartbeat. Refreshed every 5 s.

import { api } from "./api.js";
import { ago, clear, h, shortId, wordBreaks } from "./dom.js";
import { adminOnly, problemBox, refreshEvery } from "./widgets.js";

const REFRESH_MS = 5000;

export function render(root, ctx) {
  const tbody = h("tbody", { id: "workers-body" });
  const summary = h("div.summary", { id: "workers-summary" });
  const message = h("div");
  root.append(
    h("div.page-head", {}, h("h1", {}, "Workers"), h("span.spacer"), h("span.small.muted", {}, "refreshed every 5 s")),
    message,
    summary,
    h("div.panel", {}, h("div.table-wrap", {}, h("table", {},
      h("thead", {}, h("tr", {}, ["Service", "Consumer", "Queue", "Host / pid", "Running", "Last heartbeat"].map((c, i) => h(`th${[1, 2, 3].includes(i) ? ".hide-sm" : ""}`, {}, c)))),
      tbody))));
  if (adminOnly(ctx.me, message, "Workers")) return null;
  async function load() {
    try {
      const found = await api("/admin/workers");
      clear(message);
      const services = new Set(found.map((w) => w.service));
      const running = found.reduce((n, w) => n + (w.running || []).length, 0);
      const gone = found.filter((w) => w.alive === false).length;
      clear(summary,
        h("span", {}, h("strong", {}, String(services.size)), ` service${services.size === 1 ? "" : "s"}`),
        h("span", {}, h("strong", {}, String(found.length)), ` replica${found.length === 1 ? "" : "s"}`),
        h("span", {}, h("strong", {}, String(running)), ` job${running === 1 ? "" : "s"} running`),
        gone ? h("span.warn", {}, `${gone} without a live process`) : null);
      clear(tbody, found.length ? found.map((w) => h("tr", { "data-service": w.service },
        h("td", {}, h("strong", {}, w.service), w.replica !== undefined && w.replica !== null ? h("span.muted", {}, ` #${w.replica}`) : null,
          h("div.show-sm.small.muted.break", {}, wordBreaks(w.queue || "–"))),
        h("td.mono.small.hide-sm", {}, w.consumer || w.instance || ""),
        h("td.hide-sm", {}, w.queue || h("span.muted", {}, "–")),
        h("td.small.muted.hide-sm", {}, [w.host, w.pid].filter(Boolean).join(" / ")),
        h("td", {}, (w.running || []).length
          ? (w.running || []).map((id) => [h("a.id", { href: `#/job/${id}`, title: id }, shortId(id)), " "])
          : h("span.muted", {}, "idle")),
        h("td.small.nowrap.wrap-sm", {}, h("span", { class: w.alive === false ? "chip failed" : "chip succeeded" }, w.alive === false ? "gone" : "alive"), " ",
          h("span.muted.nowrap.block-sm", { title: w.last_heartbeat || "" }, ago(w.last_heartbeat)))))
        : h("tr", {}, h("td.empty", { colspan: 6 }, "No live workers.")));
    } catch (error) {
      clear(message, problemBox(error));
    }
  }
  return refreshEvery(REFRESH_MS, load);
}
