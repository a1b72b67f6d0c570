// A campaign's targeting: a builder for the common case (a top-level "all of" list of
// conditions, one leaf each) and the rule tree as JSON text for everything else (any, not,
// nesting, lists). The leaves and their JSON are those of agents/campaigns/rules.py; the
// server validates the tree and names the bad node (`rules.all[2].hours.from: ...`).

import { clear, h } from "./dom.js";
import { t } from "./i18n.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DEVICES = ["desktop", "tablet", "mobile"];
const ATTRIBUTE_OPS = ["equals", "not_equals", "contains", "gt", "gte", "lt", "lte", "set"];
const NUMERIC_OPS = ["gt", "gte", "lt", "lte"];

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const keysAre = (rule, allowed, required = allowed.slice(0, 1)) =>
  isObject(rule) &&
  required.every((k) => k in rule) &&
  Object.keys(rule).every((k) => allowed.includes(k));
const isString = (v) => typeof v === "string";
const isCount = (v) => Number.isInteger(v) && v >= 0;
// a value typed in a text field: true/false and numbers as such, anything else as text
const LITERAL = /^-?\d+(\.\d+)?$/;
const literal = (text) => (text === "true" ? true : text === "false" ? false : LITERAL.test(text) ? Number(text) : text);
const literalShows = (v) => (isString(v) ? v !== "true" && v !== "false" && !LITERAL.test(v) : typeof v === "boolean" || Number.isFinite(v));
const numberOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

function field(label, input, cls = "") {
  return h("label", { class: `cond-field ${cls}` }, h("span", { class: "cond-label" }, label), input);
}

function textInput(value, placeholder, extra = {}) {
  return h("input", { type: "text", value: value ?? "", placeholder, autocomplete: "off", spellcheck: "false", ...extra });
}

function numberInput(value, extra = {}) {
  return h("input", { type: "number", class: "narrow", min: "0", step: "1", value: value ?? "", ...extra });
}

function select(options, value) {
  return h(
    "select",
    {},
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

let seq = 0;

function checks(options, chosen, legend) {
  const boxes = options.map(([value, text]) => ({
    value,
    box: h("input", { type: "checkbox", value, checked: chosen.includes(value) }),
    text,
  }));
  const id = `cond-group-${++seq}`;
  return {
    el: h(
      "div",
      { class: "cond-field", role: "group", "aria-labelledby": id },
      h("span", { class: "cond-label", id }, legend),
      h("div", { class: "cond-checks" }, boxes.map((b) => h("label", { class: "check" }, b.box, b.text))),
    ),
    read: () => boxes.filter((b) => b.box.checked).map((b) => b.value),
  };
}

/** Each kind of condition: whether a leaf is one the builder shows (match), and its fields
 * with a reader (build). */
const KINDS = {
  url: {
    match: (r) => keysAre(r, ["url"]) && isString(r.url),
    build(r) {
      const input = textInput(r?.url, t("rules.patternHint"));
      return { nodes: [field(t("rules.pattern"), input, "grow")], read: () => ({ url: input.value.trim() }) };
    },
  },
  url_not: {
    match: (r) => keysAre(r, ["not"]) && keysAre(r.not, ["url"]) && isString(r.not.url),
    build(r) {
      const input = textInput(r?.not?.url, t("rules.patternHint"));
      return { nodes: [field(t("rules.pattern"), input, "grow")], read: () => ({ not: { url: input.value.trim() } }) };
    },
  },
  referrer: {
    match: (r) => keysAre(r, ["referrer"]) && isString(r.referrer),
    build(r) {
      const input = textInput(r?.referrer, "https://www.google.*");
      return { nodes: [field(t("rules.referrerPattern"), input, "grow")], read: () => ({ referrer: input.value.trim() }) };
    },
  },
  param: {
    match: (r) => keysAre(r, ["param", "equals"]) && isString(r.param) && (!("equals" in r) || isString(r.equals)),
    build(r) {
      const name = textInput(r?.param, "utm_source", { class: "medium" });
      const value = textInput(r?.equals, t("rules.anyValue"), { class: "medium" });
      return {
        nodes: [field(t("rules.paramName"), name), field(t("rules.paramEquals"), value)],
        read: () => (value.value === "" ? { param: name.value.trim() } : { param: name.value.trim(), equals: value.value }),
      };
    },
  },
  time_on_page: seconds("time_on_page"),
  time_on_site: seconds("time_on_site"),
  scroll: atLeast("scroll", "rules.percent", { max: "100" }),
  exit_intent: {
    match: (r) => keysAre(r, ["exit_intent"]) && r.exit_intent === true,
    build: () => ({ nodes: [h("span", { class: "muted small" }, t("rules.exitHint"))], read: () => ({ exit_intent: true }) }),
  },
  pages_viewed: atLeast("pages_viewed", "rules.pages"),
  visitor: {
    match: (r) => keysAre(r, ["visitor"]) && ["new", "returning"].includes(r.visitor),
    build(r) {
      const which = select([["new", t("rules.visitorNew")], ["returning", t("rules.visitorReturning")]], r?.visitor || "new");
      return { nodes: [field(t("rules.visitorLabel"), which)], read: () => ({ visitor: which.value }) };
    },
  },
  language: {
    match: (r) => keysAre(r, ["language"]) && (isString(r.language) || (Array.isArray(r.language) && r.language.length > 0 && r.language.every(isString))),
    build(r) {
      const given = r ? [r.language].flat().join(", ") : "";
      const input = textInput(given, "fr, fr-BE", { class: "medium" });
      return {
        nodes: [field(t("rules.languages"), input)],
        read: () => {
          const tags = input.value.split(/[\s,]+/).filter(Boolean);
          return { language: tags.length === 1 ? tags[0] : tags };
        },
      };
    },
  },
  device: {
    match: (r) => keysAre(r, ["device"]) && [r.device].flat().length > 0 && [r.device].flat().every((d) => DEVICES.includes(d)),
    build(r) {
      const boxes = checks(DEVICES.map((d) => [d, t(`rules.device.${d}`)]), r ? [r.device].flat() : ["mobile"], t("rules.devices"));
      return {
        nodes: [boxes.el],
        read: () => {
          const chosen = boxes.read();
          return { device: chosen.length === 1 ? chosen[0] : chosen };
        },
      };
    },
  },
  attribute: {
    match(r) {
      if (!keysAre(r, ["attribute", ...ATTRIBUTE_OPS.filter((o) => o !== "set")]) || !isString(r.attribute)) return false;
      const ops = Object.keys(r).filter((k) => k !== "attribute");
      if (ops.length === 0) return true;
      const [op] = ops;
      if (NUMERIC_OPS.includes(op)) return Number.isFinite(r[op]);
      if (op === "contains") return isString(r[op]);
      return literalShows(r[op]);
    },
    build(r) {
      const ops = r ? Object.keys(r).filter((k) => k !== "attribute") : ["equals"];
      const name = textInput(r?.attribute, "plan", { class: "medium" });
      const op = select(ATTRIBUTE_OPS.map((o) => [o, t(`rules.op.${o}`)]), ops[0] || "set");
      const value = textInput(r && ops[0] ? String(r[ops[0]]) : "", t("rules.value"), { class: "medium" });
      const valueField = field(t("rules.value"), value);
      const sync = () => (valueField.hidden = op.value === "set");
      op.addEventListener("change", sync);
      sync();
      return {
        nodes: [field(t("rules.attributeName"), name), field(t("rules.operator"), op), valueField],
        read: () => {
          const rule = { attribute: name.value.trim() };
          if (op.value === "set") return rule;
          const text = value.value.trim();
          rule[op.value] = NUMERIC_OPS.includes(op.value) ? (text === "" ? null : Number(text)) : op.value === "contains" ? value.value : literal(text);
          return rule;
        },
      };
    },
  },
  event: {
    match: (r) => keysAre(r, ["event", "count"]) && isString(r.event) && (!("count" in r) || isCount(r.count)),
    build(r) {
      const name = textInput(r?.event, "add_to_cart", { class: "medium" });
      const count = numberInput(r?.count ?? 1);
      return {
        nodes: [field(t("rules.eventName"), name), field(t("rules.times"), count)],
        read: () => {
          const n = numberOrNull(count);
          return n === 1 ? { event: name.value.trim() } : { event: name.value.trim(), count: n };
        },
      };
    },
  },
  dates: {
    match: (r) => keysAre(r, ["dates"]) && keysAre(r.dates, ["from", "to"], []) && Object.values(r.dates).every(isString),
    build(r) {
      const from = h("input", { type: "date", value: r?.dates?.from || "" });
      const to = h("input", { type: "date", value: r?.dates?.to || "" });
      return {
        nodes: [field(t("rules.from"), from), field(t("rules.to"), to)],
        read: () => {
          const dates = {};
          if (from.value) dates.from = from.value;
          if (to.value) dates.to = to.value;
          return { dates };
        },
      };
    },
  },
  hours: {
    match: (r) =>
      keysAre(r, ["hours"]) &&
      keysAre(r.hours, ["from", "to", "days"], ["from", "to"]) &&
      isString(r.hours.from) &&
      isString(r.hours.to) &&
      (!("days" in r.hours) || (Array.isArray(r.hours.days) && r.hours.days.every((d) => DAYS.includes(d)))),
    build(r) {
      const days = checks(DAYS.map((d) => [d, t(`rules.day.${d}`)]), r?.hours?.days || [], t("rules.days"));
      const from = h("input", { type: "time", value: r?.hours?.from || "09:00" });
      const to = h("input", { type: "time", value: r?.hours?.to || "18:00" });
      return {
        nodes: [days.el, field(t("rules.from"), from), field(t("rules.to"), to)],
        read: () => {
          const chosen = days.read();
          const hours = chosen.length ? { days: chosen } : {};
          return { hours: { ...hours, from: from.value, to: to.value } };
        },
      };
    },
  },
  agents_online: {
    match: (r) => keysAre(r, ["agents_online"]) && typeof r.agents_online === "boolean",
    build(r) {
      const which = select([["true", t("rules.agentsYes")], ["false", t("rules.agentsNo")]], String(r?.agents_online ?? true));
      return { nodes: [field(t("rules.agentsLabel"), which)], read: () => ({ agents_online: which.value === "true" }) };
    },
  },
};

function seconds(key) {
  return atLeast(key, "rules.seconds");
}

function atLeast(key, unit, extra = {}) {
  return {
    match: (r) => keysAre(r, [key]) && isCount(r[key]),
    build(r) {
      const input = numberInput(r?.[key] ?? "", extra);
      return { nodes: [field(t(unit), input)], read: () => ({ [key]: numberOrNull(input) }) };
    },
  };
}

/** The conditions of a rule tree the builder can show ([kind, leaf] each), or null. */
export function conditionsOf(rules) {
  let list;
  if (isObject(rules) && Object.keys(rules).length === 1 && Array.isArray(rules.all)) list = rules.all;
  else if (isObject(rules) && !("all" in rules) && !("any" in rules)) list = [rules];
  else return null;
  const out = [];
  for (const leaf of list) {
    const kind = Object.keys(KINDS).find((k) => KINDS[k].match(leaf));
    if (!kind) return null;
    out.push([kind, leaf]);
  }
  return out;
}

/** The targeting part of the editor: {el, read() (throws RulesError), markInvalid(path),
 * clearInvalid()}. */
export function rulesEditor(initial) {
  const rows = [];
  const list = h("ol", { class: "conditions" });
  const empty = h("p", { class: "muted small conditions-empty" }, t("rules.none"));
  const add = h("button", { type: "button", class: "btn small" }, "+ ", t("rules.add"));
  const json = h("textarea", {
    class: "rules-json",
    rows: "10",
    spellcheck: "false",
    "aria-label": t("rules.jsonLabel"),
    "aria-describedby": "rules-json-hint",
  });
  const jsonHint = h("p", { id: "rules-json-hint", class: "muted small" }, t("rules.jsonHint"));
  const jsonBox = h("div", { class: "rules-json-box", hidden: true }, json, jsonHint);
  const intro = h("p", { class: "muted small" }, t("rules.intro"));
  const builder = h("div", { class: "rules-builder" }, list, empty, add);
  const toggle = h("button", { type: "button", class: "btn small ghost", "aria-pressed": "false" }, t("rules.advanced"));
  const message = h("p", { class: "field-note", role: "status" });
  let advanced = false;

  function addRow(kind = "url", leaf = null, focus = false) {
    const row = { kind, part: null, el: h("li", { class: "condition" }) };
    const kindSelect = select(
      Object.keys(KINDS).map((k) => [k, t(`rules.kind.${k}`)]),
      kind,
    );
    kindSelect.id = `cond-kind-${++seq}`;
    const kindLabel = h("label", { class: "cond-label", for: kindSelect.id });
    const fields = h("div", { class: "cond-fields" });
    const remove = h("button", { type: "button", class: "btn small ghost", "aria-label": "" }, "×");
    const draw = (value) => {
      row.kind = kindSelect.value;
      row.part = KINDS[row.kind].build(value);
      clear(fields, row.part.nodes);
    };
    kindSelect.addEventListener("change", () => {
      draw(null);
      fields.querySelector("input, select")?.focus();
    });
    remove.addEventListener("click", () => {
      const index = rows.indexOf(row);
      rows.splice(index, 1);
      row.el.remove();
      relabel();
      (rows[index]?.el.querySelector("select") || add).focus();
      list.dispatchEvent(new Event("input", { bubbles: true }));
    });
    row.kindSelect = kindSelect;
    row.kindLabel = kindLabel;
    row.remove = remove;
    draw(leaf);
    row.el.append(h("div", { class: "cond-field cond-kind" }, kindLabel, kindSelect), fields, remove);
    rows.push(row);
    list.append(row.el);
    relabel();
    if (focus) kindSelect.focus();
  }

  function relabel() {
    rows.forEach((row, i) => {
      row.kindLabel.textContent = t("rules.condition", { n: i + 1 });
      row.remove.setAttribute("aria-label", t("rules.remove", { n: i + 1 }));
    });
    empty.hidden = rows.length > 0;
  }

  function fromBuilder() {
    const leaves = rows.map((row) => row.part.read());
    return { all: leaves };
  }

  function fill(rules) {
    for (const row of rows.splice(0)) row.el.remove();
    for (const [kind, leaf] of conditionsOf(rules) || []) addRow(kind, leaf);
    relabel();
  }

  function setAdvanced(on) {
    advanced = on;
    toggle.setAttribute("aria-pressed", String(on));
    builder.hidden = on;
    intro.hidden = on;
    jsonBox.hidden = !on;
  }

  toggle.addEventListener("click", () => {
    message.textContent = "";
    if (!advanced) {
      json.value = JSON.stringify(fromBuilder(), null, 2);
      setAdvanced(true);
      json.focus();
      return;
    }
    let tree;
    try {
      tree = JSON.parse(json.value || '{"all": []}');
    } catch (err) {
      message.textContent = t("rules.badJson", { error: err.message });
      return;
    }
    if (!conditionsOf(tree)) {
      message.textContent = t("rules.tooComplex");
      return;
    }
    fill(tree);
    setAdvanced(false);
    (rows[0]?.kindSelect || add).focus();
  });
  add.addEventListener("click", () => {
    addRow("url", null, true);
    list.dispatchEvent(new Event("input", { bubbles: true }));
  });

  const rules = initial || { all: [] };
  if (conditionsOf(rules)) fill(rules);
  else {
    json.value = JSON.stringify(rules, null, 2);
    setAdvanced(true);
    message.textContent = t("rules.tooComplex");
  }

  return {
    el: h("div", { class: "rules" }, h("div", { class: "rules-head" }, intro, toggle), builder, jsonBox, message),
    read() {
      if (!advanced) return fromBuilder();
      try {
        return JSON.parse(json.value || '{"all": []}');
      } catch (err) {
        throw new RulesError(t("rules.badJson", { error: err.message }));
      }
    },
    /** Point at the node a server error names: `rules.all[2]...` is the third condition. */
    markInvalid(path) {
      const match = /^rules\.all\[(\d+)\]/.exec(path);
      const row = !advanced && match ? rows[Number(match[1])] : null;
      const target = row ? row.el : advanced ? json : null;
      if (!target) return null;
      target.classList.add("invalid");
      for (const el of row ? row.el.querySelectorAll("input, select") : [json]) el.setAttribute("aria-invalid", "true");
      return row ? t("rules.condition", { n: Number(match[1]) + 1 }) : t("rules.jsonLabel");
    },
    clearInvalid() {
      for (const el of [json, ...rows.map((r) => r.el)]) el.classList.remove("invalid");
      for (const el of [json, ...list.querySelectorAll("[aria-invalid]")]) el.removeAttribute("aria-invalid");
    },
  };
}

export class RulesError extends Error {}
