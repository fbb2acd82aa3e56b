// Submit: a form per job type, generated from the request model's JSON schema (GET /jobs/types). A list of
// strings is a textarea, one entry a line; a list of numbers a text box, comma or line separated; an enum, or
// a union of enums and constants (`format`: an image format or "keep"), a select. Only nested objects (and
// lists of them) are edited as JSON. The API's validation errors show next to the field they are about.

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

const choicesOf = (s) => (Array.isArray(s.enum) ? s.enum : s.const !== undefined ? [s.const] : null);
const scalar = (v) => ["string", "number", "boolean"].includes(typeof v);

/** A property's schema without `anyOf [X, null]`, a union of enums and constants as one enum, and whether
 * null is allowed. */
function unwrap(prop, root) {
  const s = deref(prop, root);
  if (Array.isArray(s.anyOf)) {
    const rest = s.anyOf.map((a) => deref(a, root)).filter((a) => a.type !== "null");
    const outer = { description: s.description, default: s.default, title: s.title };
    const nullable = rest.length < s.anyOf.length;
    if (rest.length === 1) return { schema: { ...rest[0], ...defined(outer) }, nullable };
    const choices = rest.map(choicesOf);
    if (rest.length && choices.every((c) => c && c.every(scalar))) {
      return { schema: { ...defined(outer), enum: [...new Set(choices.flat())] }, nullable };
    }
  }
  return { schema: s, nullable: false };
}

function defined(o) { return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)); }

/** What a list's entries are: "string" or "number" (edited as text), or null (edited as JSON). */
function listOf(schema, root) {
  if (schema.type !== "array" || !schema.items) return null;
  const item = deref(schema.items, root);
  if (item.type === "string" && !choicesOf(item)) return "string";
  if (item.type === "integer" || item.type === "number") return item.type;
  return null;
}

/** A field's value was not what it needs to be (shown next to the field). */
class FieldError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

function field(name, prop, required, root) {
  const { schema } = unwrap(prop, root);
  const id = `field-${name}`;
  const label = h("label", { for: id }, h("span.mono", {}, name), required ? h("span.req", {}, "*") : null);
  const help = schema.description ? h("div.help", {}, schema.description) : null;
  const problem = h("div", { id: `${id}-error`, role: "alert" });
  const choices = choicesOf(schema);
  const list = listOf(schema, root);
  const shown = (v) => (v !== undefined && v !== null ? v : null);
  let input;
  let kind;
  if (list === "string") {
    kind = "lines";
    input = h("textarea", { id, name, rows: 3, spellcheck: "false",
      placeholder: Array.isArray(schema.default) && schema.default.length ? schema.default.join("\n") : "One per line" });
  } else if (list) {
    kind = list === "integer" ? "integers" : "numbers";
    input = h("input", { id, name, type: "text", inputmode: "decimal", autocomplete: "off",
      placeholder: Array.isArray(schema.default) ? schema.default.join(", ") : "Comma separated, e.g. 1, 2, 3" });
  } else if (choices) {
    kind = "choice";
    input = h("select", { id, name }, required ? null : h("option", { value: "" }, "(default)"),
      choices.map((c) => h("option", { value: String(c), selected: schema.default === c }, String(c))));
  } else if (schema.type === "boolean") {
    kind = "boolean";
    input = h("input", { id, name, type: "checkbox", checked: schema.default === true });
    return { name, kind, input, problem, el: h("div.field.check", { "data-field": name }, input, label, help, problem), schema };
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
      placeholder: shown(schema.default) !== null ? JSON.stringify(schema.default) : "JSON" });
  }
  return { name, kind, input, problem, el: h("div.field", { "data-field": name }, label, input, help, problem), schema };
}

/** Where in a field's value an error is: a list's entry by its value ("“4”"), else its path ("0.width"). */
function entry(value, path) {
  const item = Array.isArray(value) && path.length === 1 ? value[path[0]] : undefined;
  return ["string", "number"].includes(typeof item) ? `“${item}”` : path.join(".");
}

/** Show `message` next to the field (nothing: clear it). */
function mark(f, message) {
  clear(f.problem, message ? h("p.notice.bad.small.field-error", {}, message) : null);
  if (message) { f.el.closest("details")?.setAttribute("open", ""); f.input.setAttribute("aria-invalid", "true"); f.input.setAttribute("aria-describedby", f.problem.id); }
  else { f.input.removeAttribute("aria-invalid"); f.input.removeAttribute("aria-describedby"); }
}

function valueOf(f) {
  const raw = f.kind === "boolean" ? f.input.checked : f.input.value.trim();
  if (f.kind === "boolean") return raw === (f.schema.default === true) ? undefined : raw;
  if (raw === "") return undefined;
  if (f.kind === "integer") return parseInt(raw, 10);
  if (f.kind === "number") return Number(raw);
  if (f.kind === "lines") return raw.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  if (f.kind === "integers" || f.kind === "numbers") {
    return raw.split(/[\s,;]+/).filter(Boolean).map((word) => {
      const n = Number(word);
      if (!Number.isFinite(n) || (f.kind === "integers" && !Number.isInteger(n))) {
        throw new FieldError(f.name, `“${word}” is not ${f.kind === "integers" ? "a whole number" : "a number"}`);
      }
      return n;
    });
  }
  if (f.kind === "datetime") {
    const when = new Date(raw);
    if (Number.isNaN(when.getTime())) throw new FieldError(f.name, "not a date and time");
    return when.toISOString();
  }
  if (f.kind === "json") {
    try { return JSON.parse(raw); } catch { throw new FieldError(f.name, "not valid JSON"); }
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
        for (const f of fields) mark(f, null);
        clear(error);
        const byName = new Map(fields.map((f) => [f.name, f]));
        const problems = [];
        for (const f of fields) {
          try {
            const v = valueOf(f);
            if (v !== undefined) request[f.name] = v;
          } catch (e) {
            mark(f, e.message);
            problems.push(`${f.name}: ${e.message}`);
          }
        }
        if (problems.length) {
          clear(error, h("p.notice.bad", { id: "submit-error" }, problems.join("; ")));
          byName.get(problems[0].split(":")[0])?.input.focus();
          return;
        }
        try {
          const job = await api("/jobs/submit", { method: "POST", body: request });
          toast(`Submitted ${job.task_id.slice(0, 8)}`);
          go("job", job.task_id);
        } catch (e) {
          if (!(e instanceof ApiError && Array.isArray(e.body?.errors))) {
            clear(error, h("p.notice.bad", { id: "submit-error" }, e.message));
            return;
          }
          // Each error next to its field ("sources.2: …" shown by `sources`), and all of them below the form.
          const at = new Map();
          const lines = e.body.errors.map((x) => {
            const path = (x.loc || []).filter((l) => l !== "body" && l !== name);
            const where = path.join(".");
            const f = byName.get(String(path[0]));
            if (f) at.set(f, [...(at.get(f) || []), path.length > 1 ? `${entry(request[f.name], path.slice(1))}: ${x.msg}` : x.msg]);
            return where ? `${where}: ${x.msg}` : x.msg;
          });
          for (const [f, messages] of at) mark(f, messages.join("; "));
          clear(error, h("p.notice.bad", { id: "submit-error" }, lines.join("; ") || e.message));
          [...at.keys()][0]?.input.focus();
        }
      });
      clear(formArea, form);
    }
    draw(chosen);
  })();
  return null;
}
