// Submit: a form per job type, generated from the request model's JSON schema (GET /jobs/types). Nested
// objects and lists are edited as JSON.

import { api, ApiError } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { go } from "./nav.js";
import { canAct, problemBox } from "./widgets.js";

const ADVANCED = new Set(["priority", "run_at", "delay_s", "retry", "time_limit", "then"]);

function deref(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return (root.$defs || root.definitions || {})[name] || {};
  }
  return schema || {};
}

/** A property's schema without `anyOf [X, null]`, and whether null is allowed. */
function unwrap(prop, root) {
  const s = deref(prop, root);
  if (Array.isArray(s.anyOf)) {
    const rest = s.anyOf.filter((a) => a.type !== "null");
    if (rest.length === 1) return { schema: { ...deref(rest[0], root), description: s.description, default: s.default, title: s.title }, nullable: rest.length < s.anyOf.length };
  }
  return { schema: s, nullable: false };
}

function field(name, prop, required, root) {
  const { schema } = unwrap(prop, root);
  const id = `field-${name}`;
  const label = h("label", { for: id }, h("span.mono", {}, name), required ? h("span.req", {}, "*") : null);
  const help = schema.description ? h("div.help", {}, schema.description) : null;
  const choices = schema.enum || (schema.const !== undefined ? [schema.const] : null);
  let input;
  let kind;
  if (choices) {
    kind = "choice";
    input = h("select", { id, name }, required ? null : h("option", { value: "" }, "(default)"),
      choices.map((c) => h("option", { value: String(c), selected: schema.default === c }, String(c))));
  } else if (schema.type === "boolean") {
    kind = "boolean";
    input = h("input", { id, name, type: "checkbox", checked: schema.default === true });
    return { name, kind, input, el: h("div.field.check", { "data-field": name }, input, label, help), schema };
  } else if (schema.type === "integer" || schema.type === "number") {
    kind = schema.type;
    input = h("input", { id, name, type: "number", step: schema.type === "integer" ? "1" : "any",
      min: schema.minimum ?? schema.exclusiveMinimum ?? null, max: schema.maximum ?? null,
      placeholder: schema.default !== undefined && schema.default !== null ? String(schema.default) : "" });
  } else if (schema.type === "string" && schema.format === "date-time") {
    kind = "datetime";  // the browser's local time, sent as UTC
    input = h("input", { id, name, type: "datetime-local", step: "1" });
  } else if (schema.type === "string") {
    kind = "string";
    input = h("input", { id, name, type: schema.format === "uri" || name === "url" ? "url" : "text", maxlength: schema.maxLength ?? null,
      placeholder: schema.default ?? (name === "url" ? "https://…" : ""), required });
  } else {
    kind = "json";
    input = h("textarea", { id, name, rows: 3, spellcheck: "false",
      placeholder: schema.default !== undefined && schema.default !== null ? JSON.stringify(schema.default) : "JSON" });
  }
  return { name, kind, input, el: h("div.field", { "data-field": name }, label, input, help), schema };
}

function valueOf(f) {
  const raw = f.kind === "boolean" ? f.input.checked : f.input.value.trim();
  if (f.kind === "boolean") return raw === (f.schema.default === true) ? undefined : raw;
  if (raw === "") return undefined;
  if (f.kind === "integer") return parseInt(raw, 10);
  if (f.kind === "number") return Number(raw);
  if (f.kind === "datetime") {
    const when = new Date(raw);
    if (Number.isNaN(when.getTime())) throw new Error(`${f.name}: not a date and time`);
    return when.toISOString();
  }
  if (f.kind === "json") {
    try { return JSON.parse(raw); } catch { throw new Error(`${f.name}: not valid JSON`); }
  }
  if (f.kind === "choice") {
    const c = (f.schema.enum || [f.schema.const]).find((v) => String(v) === raw);
    return c === f.schema.default ? undefined : c;
  }
  return raw;
}

export function render(root, ctx) {
  const body = h("div");
  root.append(h("div.page-head", {}, h("h1", {}, "Submit a job")), body);
  if (!canAct(ctx.me)) {
    clear(body, h("p.notice", {}, "This key may only read; submitting needs a submit or admin key."));
    return null;
  }
  (async () => {
    let types;
    try {
      types = await api("/jobs/types");
    } catch (error) {
      clear(body, problemBox(error));
      return;
    }
    const chosen = ctx.params.type && types.some((t) => t.name === ctx.params.type) ? ctx.params.type : types[0]?.name;
    const typeSelect = h("select", { id: "job-type", name: "job_type", onchange: (e) => { ctx.setParams({ type: e.target.value }); draw(e.target.value); } },
      types.map((t) => h("option", { value: t.name, selected: t.name === chosen }, t.name)));
    const formArea = h("div");
    clear(body, h("div.panel.pad.narrow", {}, h("div.form", {},
      h("div.field", {}, h("label", { for: "job-type" }, "Job type"), typeSelect)), formArea));

    function draw(name) {
      const type = types.find((t) => t.name === name);
      const schema = type.schema;
      const required = new Set(schema.required || []);
      const fields = Object.entries(schema.properties || {}).filter(([n]) => n !== "job_type")
        .map(([n, prop]) => field(n, prop, required.has(n), schema));
      const main = fields.filter((f) => !ADVANCED.has(f.name));
      const advanced = fields.filter((f) => ADVANCED.has(f.name));
      const error = h("div");
      const form = h("form.form", { id: "submit-form", novalidate: true },
        type.description ? h("p.muted", {}, type.description) : null,
        h("p.small.muted", {}, `Queue `, h("span.mono", {}, type.queue), type.max_attempts ? ` · up to ${type.max_attempts} attempts` : ""),
        main.map((f) => f.el),
        advanced.length ? h("details", {}, h("summary.muted", {}, "Priority, later, retry, time limit, follow-up jobs"), h("div.form", {}, advanced.map((f) => f.el))) : null,
        error,
        h("div", {}, h("button.btn.primary", { type: "submit", id: "submit-job" }, `Submit ${name}`)));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const request = { job_type: name };
        try {
          for (const f of fields) {
            const v = valueOf(f);
            if (v !== undefined) request[f.name] = v;
          }
          const job = await api("/jobs/submit", { method: "POST", body: request });
          toast(`Submitted ${job.task_id.slice(0, 8)}`);
          go("job", job.task_id);
        } catch (e) {
          const detail = e instanceof ApiError && e.body?.errors
            ? e.body.errors.map((x) => `${(x.loc || []).filter((l) => l !== "body" && l !== name).join(".")}: ${x.msg}`).join("; ")
            : e.message;
          clear(error, h("p.notice.bad", { id: "submit-error" }, detail));
        }
      });
      clear(formArea, form);
    }
    draw(chosen);
  })();
  return null;
}
