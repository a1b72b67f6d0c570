// The Privacy page's audit trail (#privacy/audit?action=...): GET /api/audit, newest first,
// filtered by space, action (or a prefix ending in a dot), actor, target, outcome and days;
// a page at a time ("More" asks for the entries before the last one), each entry's diff and
// snapshot shown as text on demand, and the same filters as JSON lines (&format=jsonl). The
// filters are in the address: a link opens the same view.

import { ApiError, get } from "./api.js";
import { bidi, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { count, momentLabel, spaceField, utcMidnight } from "./privacy-common.js";
import { state } from "./state.js";

const PAGE = 50;
const ACTIONS = ["agent.sign_in", "hold.place", "hold.release", "retention.update", "retention.run", "visitor.erase", "visitor.export"];
const PREFIXES = ["hold.", "retention.", "visitor.", "agent."];
const OUTCOMES = ["ok", "denied", "failed"];
const FILTERS = ["space", "action", "actor", "target", "outcome", "from", "to"];
const isDay = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v || "");

function actionLabel(action) {
  const key = `privacy.action.${action}`;
  const text = t(key);
  return text === key ? null : text;
}

/** A value of a diff, as text. */
function plain(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** An entry's diff as lines of text: "field: before → after", or its parts one per line. */
export function diffLines(diff) {
  if (!diff || typeof diff !== "object") return [];
  const lines = [];
  for (const [key, value] of Object.entries(diff)) {
    if (Array.isArray(value) && value.length === 2) lines.push(`${key}: ${plain(value[0])} → ${plain(value[1])}`);
    else if (value && typeof value === "object" && !Array.isArray(value)) {
      const parts = Object.entries(value);
      lines.push(`${key}:${parts.length ? "" : " —"}`);
      for (const [k, v] of parts) lines.push(`  ${k}: ${plain(v)}`);
    } else lines.push(`${key}: ${plain(value)}`);
  }
  return lines;
}

function short(id) {
  const text = String(id || "");
  return text.length > 20 ? `${text.slice(0, 18)}…` : text;
}

export function auditPanel(ctx, query) {
  const q = new URLSearchParams(query || "");
  const filters = Object.fromEntries(FILTERS.map((f) => [f, q.get(f) || ""]));
  if (!isDay(filters.from)) filters.from = "";
  if (!isDay(filters.to)) filters.to = "";
  if (!OUTCOMES.includes(filters.outcome)) filters.outcome = "";
  if (filters.space && !state.session.spaces.some((s) => s.key === filters.space)) filters.space = "";

  const picker = spaceField("audit-space", filters.space, { all: true });
  const input = (id, value, attrs = {}) => h("input", { id, value, autocomplete: "off", spellcheck: "false", ...attrs });
  const action = input("audit-action", filters.action, { list: "audit-actions", placeholder: "visitor.erase, hold." });
  const actor = input("audit-actor", filters.actor, { placeholder: t("privacy.audit.actorPlaceholder") });
  const target = input("audit-target", filters.target, { placeholder: t("privacy.audit.targetPlaceholder") });
  const outcome = h(
    "select",
    { id: "audit-outcome" },
    h("option", { value: "" }, t("privacy.audit.anyOutcome")),
    OUTCOMES.map((o) => h("option", { value: o, selected: o === filters.outcome }, t(`privacy.outcome.${o}`))),
  );
  const from = input("audit-from", filters.from, { type: "date" });
  const to = input("audit-to", filters.to, { type: "date" });
  const field = (id, label, control, extra = "") => h("div", { class: `field ${extra}` }, h("label", { for: id }, label), control);
  const submit = h("button", { type: "submit", class: "btn primary" }, t("privacy.audit.show"));
  const reset = h("button", { type: "button", class: "btn ghost" }, t("privacy.audit.reset"));
  const jsonl = h("a", { class: "btn", id: "audit-jsonl", download: "audit.jsonl" }, t("privacy.audit.jsonl"));
  const error = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const form = h(
    "form",
    { class: "report-form audit-form", novalidate: true, "aria-label": t("privacy.audit.filters") },
    picker.field,
    field("audit-action", t("privacy.audit.action"), action),
    field("audit-actor", t("privacy.audit.actor"), actor),
    field("audit-target", t("privacy.audit.target"), target),
    field("audit-outcome", t("privacy.audit.outcome"), outcome),
    field("audit-from", t("privacy.from"), from, "date-field"),
    field("audit-to", t("privacy.toIncluded"), to, "date-field"),
    h("div", { class: "field report-submit audit-buttons" }, h("div", { class: "form-buttons" }, submit, reset)),
    h(
      "datalist",
      { id: "audit-actions" },
      ACTIONS.map((a) => h("option", { value: a }, actionLabel(a) || a)),
      PREFIXES.map((p) => h("option", { value: p }, t("privacy.audit.prefix", { prefix: p }))),
    ),
  );
  const summary = h("p", { class: "muted small audit-count", role: "status" });
  const tbody = h("tbody", {});
  const table = h(
    "div",
    { class: "table-scroll", hidden: true },
    h(
      "table",
      { class: "table privacy-table audit-table", id: "audit-table" },
      h("caption", { class: "visually-hidden" }, t("privacy.tab.audit")),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [t("privacy.audit.time"), t("privacy.audit.actor"), t("privacy.audit.action"), t("privacy.audit.targetCol"), t("privacy.audit.outcome"), t("privacy.col.reason"), ""].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      tbody,
    ),
  );
  const empty = h("p", { class: "empty-panel", hidden: true }, t("privacy.audit.none"));
  const more = h("button", { type: "button", class: "btn", id: "audit-more", hidden: true }, t("privacy.audit.more"));

  let next = null;
  let shown = 0;
  let my = 0;
  let applied = { ...filters };

  const params = (f) => {
    const p = new URLSearchParams();
    if (f.space) p.set("space", f.space);
    for (const k of ["action", "actor", "target", "outcome"]) if (f[k]) p.set(k, f[k]);
    if (f.from) p.set("since", utcMidnight(f.from));
    if (f.to) p.set("until", utcMidnight(f.to, { next: true }));
    return p;
  };
  const address = (f) => {
    const p = new URLSearchParams();
    for (const k of FILTERS) if (f[k]) p.set(k, f[k]);
    const s = p.toString();
    return `#privacy/audit${s ? `?${s}` : ""}`;
  };

  const row = (entry) => {
    const lines = diffLines(entry.diff);
    const detailId = `audit-detail-${entry.id}`;
    const toggle = h("button", { type: "button", class: "btn small ghost", "aria-expanded": "false", "aria-controls": detailId }, t("privacy.audit.details"));
    const snapshot = entry.target?.snapshot;
    const detail = h(
      "tr",
      { class: "audit-detail", id: detailId, hidden: true },
      h(
        "td",
        { colspan: "7" },
        h(
          "dl",
          { class: "audit-facts" },
          h("div", {}, h("dt", {}, t("privacy.audit.diff")), h("dd", {}, lines.length ? h("pre", { class: "diff" }, lines.join("\n")) : t("privacy.audit.noDiff"))),
          snapshot != null ? h("div", {}, h("dt", {}, t("privacy.audit.snapshot")), h("dd", {}, h("pre", { class: "diff" }, JSON.stringify(snapshot, null, 2)))) : null,
          h(
            "div",
            {},
            h("dt", {}, t("privacy.audit.who")),
            h(
              "dd",
              {},
              [entry.actor.kind, entry.actor.id, entry.actor.ip, entry.actor.user_agent].filter(Boolean).map((v, i) => [i ? " · " : "", bidi(v)]),
            ),
          ),
          h("div", {}, h("dt", {}, t("privacy.audit.entry")), h("dd", { class: "mono" }, `#${entry.seq} · ${entry.request_id || "—"} · ${String(entry.hash || "").slice(0, 16)}`)),
        ),
      ),
    );
    toggle.addEventListener("click", () => {
      detail.hidden = !detail.hidden;
      toggle.setAttribute("aria-expanded", String(!detail.hidden));
    });
    const label = actionLabel(entry.action);
    const covers = snapshot && typeof snapshot === "object" ? snapshot.covers || snapshot.key || null : null;
    return [
      h(
        "tr",
        { dataset: { entryId: String(entry.id), action: entry.action, outcome: entry.outcome } },
        h("td", { class: "when", "data-label": t("privacy.audit.time") }, h("time", { datetime: entry.at, title: entry.at }, momentLabel(entry.at))),
        h("td", { class: "actor", "data-label": t("privacy.audit.actor") }, bidi(entry.actor.name || t(`privacy.actorKind.${entry.actor.kind}`)), entry.space && state.session.spaces.length > 1 ? h("div", { class: "muted small" }, bidi(entry.space)) : null),
        h("td", { class: "action", "data-label": t("privacy.audit.action") }, label ? h("span", {}, label) : null, h("code", { class: "action-code" }, entry.action)),
        h(
          "td",
          { class: "target", "data-label": t("privacy.audit.targetCol") },
          entry.target?.kind ? h("span", { class: "muted" }, entry.target.kind, " ") : null,
          covers ? bidi(covers) : entry.target?.id ? h("code", { title: entry.target.id }, bidi(short(entry.target.id))) : "—",
        ),
        h("td", { "data-label": t("privacy.audit.outcome") }, h("span", { class: `status-badge out-${entry.outcome}` }, t(`privacy.outcome.${entry.outcome}`))),
        h("td", { class: "reason", "data-label": t("privacy.col.reason") }, entry.reason ? bidi(entry.reason) : "—"),
        h("td", { class: "actions" }, toggle),
      ),
      detail,
    ];
  };

  async function load({ append = false } = {}) {
    const me = ++my;
    error.textContent = "";
    const p = params(applied);
    p.set("limit", String(PAGE));
    if (append && next != null) p.set("before", String(next));
    more.disabled = submit.disabled = true;
    try {
      const answer = await get(`/api/audit?${p}`);
      if (me !== my || !ctx.alive()) return;
      if (!append) {
        clear(tbody);
        shown = 0;
      }
      tbody.append(...answer.entries.flatMap(row));
      shown += answer.entries.length;
      next = answer.next;
      table.hidden = shown === 0;
      empty.hidden = shown !== 0;
      more.hidden = next == null;
      summary.textContent = shown ? t(next == null ? "privacy.audit.countAll" : "privacy.audit.countMore", { n: count(shown) }) : "";
    } catch (err) {
      if (me !== my || !ctx.alive()) return;
      if (err instanceof ApiError && [400, 404, 422].includes(err.status)) {
        error.textContent = err.message || t("error.generic");
        error.focus();
      } else {
        ctx.handleError(err);
      }
    } finally {
      more.disabled = submit.disabled = false;
    }
  }

  const apply = () => {
    applied = {
      space: picker.value(),
      action: action.value.trim(),
      actor: actor.value.trim(),
      target: target.value.trim(),
      outcome: outcome.value,
      from: from.value,
      to: to.value,
    };
    const out = params(applied);
    out.set("format", "jsonl");
    jsonl.href = `/api/audit?${out}`;
    const hash = address(applied);
    if (location.hash !== hash) history.replaceState(history.state, "", hash);
    load();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  reset.addEventListener("click", () => {
    for (const el of [action, actor, target, from, to]) el.value = "";
    outcome.value = "";
    if (picker.select) picker.select.value = "";
    apply();
  });
  more.addEventListener("click", () => load({ append: true }));
  apply();

  return h(
    "section",
    { class: "privacy-panel audit-panel", "aria-labelledby": "audit-title" },
    h("h2", { id: "audit-title", class: "panel-title" }, t("privacy.tab.audit")),
    h("p", { class: "panel-lead" }, t("privacy.audit.lead")),
    h("div", { class: "controls" }, form, h("p", { class: "muted small" }, t("privacy.audit.daysUtc"))),
    error,
    h("div", { class: "audit-tools" }, summary, jsonl),
    table,
    empty,
    h("div", { class: "audit-more" }, more),
  );
}
