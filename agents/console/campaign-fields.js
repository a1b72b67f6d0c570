// The editor's parts: a labelled field, an arm's row, a goal's row, and the conversions
// between what the inputs hold and what the API takes (local datetime <-> UTC, buttons).

import { h } from "./dom.js";
import { t } from "./i18n.js";

const GOAL_KINDS = ["event", "url", "replied", "conversation", "csat"];

let seq = 0;
const uid = (prefix) => `${prefix}-${++seq}`;

/** A labelled field: [label, input], the label tied to the input by id. */
export function labelled(text, input, hint = "", unit = "") {
  input.id ||= uid("f");
  const hintEl = hint ? h("p", { class: "field-hint", id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const control = unit ? h("span", { class: "with-unit" }, input, h("span", { class: "unit", "aria-hidden": "true" }, unit)) : input;
  return h("div", { class: "field" }, h("label", { for: input.id }, text), control, hintEl);
}

export const intOr = (input, empty) => (input.value.trim() === "" ? empty : Number(input.value));

export function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function utc(value) {
  if (!value) return null;
  const d = new Date(value); // datetime-local: the agent's local time
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "Yes, please, No thanks" or one per line (which lets a button hold a comma). */
export function splitButtons(text) {
  const parts = text.includes("\n") ? text.split("\n") : text.split(",");
  return parts.map((s) => s.trim()).filter(Boolean);
}

export function armRow(arm, index, { onRemove }) {
  const key = h("input", { type: "text", class: "narrow", value: arm.key, maxlength: "32", autocomplete: "off", spellcheck: "false" });
  const weight = h("input", { type: "number", class: "narrow", min: "0", step: "any", value: String(arm.weight ?? 1) });
  const message = h("textarea", { rows: "2", maxlength: "1000" });
  message.value = arm.message || "";
  const buttons = h("textarea", { rows: "2" });
  buttons.value = (arm.buttons || []).join("\n");
  const sender = h("input", { type: "text", value: arm.sender || "", maxlength: "100", autocomplete: "off" });
  const title = h("h4", { class: "arm-title" });
  const remove = h("button", { type: "button", class: "btn small ghost danger-text" }, t("editor.removeArm"));
  remove.addEventListener("click", () => onRemove(row));
  const el = h(
    "div",
    { class: "arm", role: "group" },
    h("div", { class: "arm-head" }, title, remove),
    h(
      "div",
      { class: "arm-grid" },
      labelled(t("editor.armKey"), key, t("editor.armKeyHint")),
      labelled(t("editor.weight"), weight),
      labelled(t("editor.sender"), sender, t("editor.senderHint")),
      h("div", { class: "span-all" }, labelled(t("editor.message"), message)),
      h("div", { class: "span-all" }, labelled(t("editor.buttons"), buttons, t("editor.buttonsHint"))),
    ),
  );
  const row = {
    el,
    fields: { key, weight, message, buttons, sender },
    number(i) {
      title.textContent = t("editor.armN", { n: i + 1 });
      el.setAttribute("aria-label", t("editor.armN", { n: i + 1 }));
      el.dataset.arm = String(i);
    },
    read: () => ({
      key: key.value.trim(),
      weight: intOr(weight, null),
      message: message.value,
      buttons: splitButtons(buttons.value),
      sender: sender.value.trim() || null,
    }),
    remove,
  };
  row.number(index);
  return row;
}

export function goalRow(goal, { secondary, onRemove }) {
  const kind = GOAL_KINDS.find((k) => goal?.[k] !== null && goal?.[k] !== undefined) || "event";
  const kindSelect = h(
    "select",
    {},
    GOAL_KINDS.map((k) => h("option", { value: k, selected: k === kind }, t(`goal.kind.${k}`))),
  );
  const event = h("input", { type: "text", value: kind === "event" ? goal.event : "", maxlength: "100", placeholder: "checkout", autocomplete: "off", spellcheck: "false" });
  const url = h("input", { type: "text", value: kind === "url" ? goal.url : "", placeholder: "https://shop.example/thanks*", autocomplete: "off", spellcheck: "false" });
  const csat = h(
    "select",
    {},
    [1, 2, 3, 4, 5].map((n) => h("option", { value: String(n), selected: n === (kind === "csat" ? goal.csat : 4) }, String(n))),
  );
  const windowHours = h("input", { type: "number", class: "narrow", min: "1", max: String(24 * 90), step: "1", value: String(goal?.window_hours ?? 72) });
  const values = {
    event: labelled(t("goal.eventName"), event, t("goal.eventHint")),
    url: labelled(t("goal.urlPattern"), url, t("goal.urlHint")),
    csat: labelled(t("goal.csatAtLeast"), csat),
  };
  const sync = () => {
    for (const [k, el] of Object.entries(values)) el.hidden = k !== kindSelect.value;
  };
  kindSelect.addEventListener("change", sync);
  sync();
  const remove = secondary ? h("button", { type: "button", class: "btn small ghost danger-text" }, t("goal.remove")) : null;
  const el = h(
    "div",
    { class: secondary ? "goal secondary" : "goal", role: "group" },
    h(
      "div",
      { class: "goal-grid" },
      labelled(secondary ? t("goal.secondaryKind") : t("goal.kind"), kindSelect),
      values.event,
      values.url,
      values.csat,
      labelled(t("goal.window"), windowHours, secondary ? "" : t("goal.windowHint")),
      remove ? h("div", { class: "goal-remove" }, remove) : null,
    ),
  );
  const row = {
    el,
    number(i) {
      el.setAttribute("aria-label", t("goal.secondaryN", { n: i + 1 }));
    },
    read() {
      const k = kindSelect.value;
      const out = {};
      if (k === "event") out.event = event.value.trim();
      else if (k === "url") out.url = url.value.trim();
      else if (k === "csat") out.csat = Number(csat.value);
      else out[k] = true;
      out.window_hours = intOr(windowHours, null);
      return out;
    },
    focus: () => kindSelect.focus(),
  };
  remove?.addEventListener("click", () => onRemove(row));
  return row;
}
