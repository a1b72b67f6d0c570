// What the Privacy page's panels share: the space picker, dates sent as UTC midnights, the
// names of the tables the server counts, a table of counts, the holds that kept something,
// and a confirmation dialog (an optional reason, an optional identifier typed again).
// Everything the server or a person wrote is shown as text, bidi-isolated.

import { bidi, bidiText, clear, h } from "./dom.js";
import { lang, t, tNodes } from "./i18n.js";
import { state } from "./state.js";

let chosen = ""; // the space last picked on any panel, kept while the console is open

/** The space the panels start on: the last one picked, else the admin's first. */
export function currentSpace() {
  const spaces = state.session.spaces;
  if (!spaces.some((s) => s.key === chosen)) chosen = spaces[0]?.key || "";
  return chosen;
}

export function chooseSpace(key) {
  chosen = key;
}

/** A labelled space picker (a select when the admin has several spaces, else its name as
 * text); `all` adds "All my spaces" (value ""). `onChange(key)` when it changes. */
export function spaceField(id, value, { all = false, onChange = null } = {}) {
  const spaces = state.session.spaces;
  if (spaces.length < 2 && !all) {
    return {
      field: h("div", { class: "field privacy-space" }, h("span", { class: "field-label" }, t("campaigns.space")), h("strong", {}, bidi(spaces[0]?.key || ""))),
      value: () => spaces[0]?.key || "",
    };
  }
  const select = h(
    "select",
    { id },
    all ? h("option", { value: "" }, t("privacy.allSpaces")) : null,
    spaces.map((s) => h("option", { value: s.key, selected: s.key === value }, bidiText(s.key))),
  );
  select.value = value;
  if (onChange) select.addEventListener("change", () => onChange(select.value));
  return {
    field: h("div", { class: "field privacy-space" }, h("label", { for: id }, t("campaigns.space")), select),
    value: () => select.value,
    select,
  };
}

/** YYYY-MM-DD as midnight UTC; `next`: the midnight after that day (an included last day). */
export function utcMidnight(day, { next = false } = {}) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day || "")) return null;
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return null;
  if (next) date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().replace(".000Z", "Z");
}

/** An instant as people read it, in UTC (said so): what a hold's range is written in. */
export function utcLabel(iso) {
  if (!iso) return "…";
  const text = new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(new Date(iso));
  return `${text} UTC`;
}

/** An instant in the agent's own time, to the second (the audit trail). */
export function momentLabel(iso) {
  return iso ? new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "medium" }).format(new Date(iso)) : "";
}

export const count = (n) => new Intl.NumberFormat(lang()).format(n);

// the tables the server counts, by the kind of data they hold, in the order people think of them
export const KINDS = ["messages", "profiles", "events", "audit"];
const TABLES = {
  conversations: "messages",
  messages: "messages",
  notes: "messages",
  conversation_tags: "messages",
  read_marks: "messages",
  csat_ratings: "messages",
  transcript_reviews: "messages",
  email_outbox: "messages",
  visitors: "profiles",
  exposures: "events",
  goal_events: "events",
  conversions: "events",
  audit_entries: "audit",
};

// what an erasure keeps for the reports, moved to an anonymous profile (chat/erasure.py)
const ANONYMISED = new Set(["conversations", "csat_ratings", "exposures", "conversions"]);

export function tableLabel(name) {
  const key = `privacy.table.${name}`;
  const text = t(key);
  return text === key ? name : text;
}

/** The counts per table, as a table: a row per table (grouped by kind), and the total.
 * `erasure`: the second column says what became of the rows (deleted, or anonymised: those
 * an erasure keeps for the reports, without any identity) rather than their kind. */
export function countsTable(counts, { id, caption, erasure = false }) {
  const names = Object.keys(counts || {});
  const order = (name) => {
    const kind = KINDS.indexOf(TABLES[name] ?? "zz");
    return [kind < 0 ? KINDS.length : kind, Object.keys(TABLES).indexOf(name)];
  };
  names.sort((a, b) => {
    const [ka, ia] = order(a);
    const [kb, ib] = order(b);
    return ka - kb || ia - ib || a.localeCompare(b);
  });
  const total = names.reduce((sum, name) => sum + (Number(counts[name]) || 0), 0);
  return h(
    "div",
    { class: "table-scroll privacy-counts-box" },
    h(
      "table",
      { class: "table privacy-counts", id },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("privacy.col.table")), h("th", { scope: "col" }, erasure ? t("privacy.col.done") : t("privacy.col.kind")), h("th", { scope: "col", class: "num" }, t("privacy.col.rows")))),
      h(
        "tbody",
        {},
        names.map((name) =>
          h(
            "tr",
            { dataset: { table: name }, class: Number(counts[name]) ? "" : "zero" },
            h("th", { scope: "row" }, tableLabel(name)),
            h("td", { class: "kind" }, erasure ? t(ANONYMISED.has(name) ? "privacy.erase.anonymised" : "privacy.erase.deletedRows") : TABLES[name] ? t(`privacy.kind.${TABLES[name]}`) : ""),
            h("td", { class: "num" }, count(counts[name])),
          ),
        ),
      ),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, t("privacy.total")), h("td", {}), h("td", { class: "num", dataset: { total: String(total) } }, count(total)))),
    ),
  );
}

/** What a hold covers, in words: a range of whole UTC days as days, both included. */
export function covers(hold) {
  switch (hold.scope) {
    case "space":
      return t("privacy.covers.space");
    case "visitor":
      return tNodes("privacy.covers.visitor", { id: h("code", {}, bidi(hold.visitor_id || "")) });
    case "conversation":
      return tNodes("privacy.covers.conversation", { id: h("code", {}, bidi(hold.conversation_id || "")) });
    default: {
      const midnight = (iso) => !iso || /T00:00:00(\.0+)?Z$/.test(iso);
      if (midnight(hold.since) && midnight(hold.until)) {
        const day = (iso, back = 0) => {
          if (!iso) return "…";
          const date = new Date(new Date(iso).getTime() - back * 86400000);
          return new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeZone: "UTC" }).format(date);
        };
        return t("privacy.covers.days", { since: day(hold.since), until: day(hold.until, 1) });
      }
      return t("privacy.covers.range", { since: utcLabel(hold.since), until: utcLabel(hold.until) });
    }
  }
}

/** What a hold kept, in words: "everything of this visitor", "conversation ID". */
function keptLabel(kept) {
  if (kept === "everything of this visitor") return t("privacy.kept.all");
  const m = /^conversation (.+)$/.exec(kept || "");
  if (m) return t("privacy.kept.conversation", { id: m[1] });
  return kept || "";
}

/** The holds that kept something (or that are active): each with what it covers (`known`:
 * the holds by id, from GET /api/holds; else its scope) and its reason. */
export function heldList(held, { kept = false, known = null } = {}) {
  return h(
    "ul",
    { class: "held-list" },
    held.map((x) =>
      h(
        "li",
        { dataset: { hold: x.hold || "" } },
        h("span", { class: "held-icon", "aria-hidden": "true" }, "▣"),
        h(
          "span",
          {},
          kept && x.kept ? h("strong", {}, keptLabel(x.kept), " — ") : null,
          tNodes("privacy.heldLine", {
            what: known?.has(x.hold) ? covers(known.get(x.hold)) : t(`privacy.scope.${x.scope}`),
            reason: h("q", {}, bidi(x.reason || "")),
          }),
        ),
      ),
    ),
  );
}

/**
 * A modal confirmation: resolves to {reason} when confirmed, null when cancelled (Escape too).
 * `reason`: {label, hint, required} asks for one; `match`: {label, value} wants that value
 * typed again before the confirm button works.
 */
export function confirmDialog({ id, title, body = [], confirm, reason = null, match = null, danger = true }) {
  return new Promise((resolve) => {
    let result = null;
    const dialog = h("dialog", { class: "dialog privacy-dialog", "aria-labelledby": `${id}-title`, "aria-describedby": `${id}-text` });
    const reasonInput = reason ? h("textarea", { id: `${id}-reason`, rows: "3", maxlength: "2000", required: reason.required || null }) : null;
    const matchInput = match ? h("input", { id: `${id}-match`, type: "text", autocomplete: "off", spellcheck: "false" }) : null;
    const ok = h("button", { type: "submit", class: danger ? "btn danger-solid" : "btn primary" }, confirm);
    const cancel = h("button", { type: "button", class: "btn ghost", onclick: () => dialog.close() }, t("common.cancel"));
    const ready = () => {
      const reasonOk = !reason?.required || reasonInput.value.trim() !== "";
      const matchOk = !match || matchInput.value.trim() === String(match.value).trim();
      ok.disabled = !(reasonOk && matchOk);
    };
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: `${id}-title` }, title),
      h("div", { id: `${id}-text`, class: "dialog-text" }, body),
      reason
        ? h(
            "div",
            { class: "field" },
            h("label", { for: `${id}-reason` }, reason.label),
            reasonInput,
            reason.hint ? h("p", { class: "field-hint" }, reason.hint) : null,
          )
        : null,
      match
        ? h("div", { class: "field" }, h("label", { for: `${id}-match` }, match.label), h("code", { class: "match-value" }, bidi(match.value)), matchInput)
        : null,
      h("div", { class: "dialog-actions" }, cancel, ok),
    );
    for (const input of [reasonInput, matchInput]) input?.addEventListener("input", ready);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (ok.disabled) return;
      result = { reason: reasonInput ? reasonInput.value.trim() : "" };
      dialog.close();
    });
    dialog.append(form);
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    ready();
    dialog.showModal();
    (matchInput || reasonInput || cancel).focus();
  });
}

/** A panel's section: its heading and its content. */
export function section(id, title, ...children) {
  return h("section", { class: "privacy-section", "aria-labelledby": id }, h("h2", { id }, title), children);
}

/** A status line (role=status) that can be set and cleared. */
export function statusLine(cls = "") {
  const el = h("p", { class: `privacy-status ${cls}`, role: "status" });
  return {
    el,
    set(text, kind = "") {
      el.className = `privacy-status ${cls} ${kind}`;
      clear(el, text);
    },
  };
}
