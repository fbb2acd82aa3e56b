// Routes live in the URL fragment: #/page/arg?filters — so a view's state can be bookmarked and shared.

/** The current route: "#/job/<id>?a=b" -> {page: "job", arg: "<id>", params: {a: "b"}}. */
export function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?");
  const [page = "jobs", ...rest] = path.split("/");
  return { page: page || "jobs", arg: rest.join("/") || null, params: Object.fromEntries(new URLSearchParams(search)) };
}

/** The URL for a page with its state (empty values dropped, so URLs stay short and shareable). */
export function href(page, arg = null, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return `#/${page}${arg ? `/${arg}` : ""}${s ? `?${s}` : ""}`;
}

export function go(page, arg = null, params = {}) {
  location.hash = href(page, arg, params);
}
