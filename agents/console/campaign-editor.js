// The campaign editor, for a new campaign and an existing one: name, space, priority, start
// and end, arms, holdout, targeting, goals and caps. The server checks everything; its error
// is shown beside the Save button and points at the field it names, and the form keeps what
// was typed. Once launched, goals are fixed (the inputs are disabled) and a change of arms,
// holdout or targeting starts a new phase: the editor says so before saving.

import { ApiError, patch, post } from "./api.js";
import { bidi, bidiText, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { armRow, goalRow, intOr, labelled, localInput, utc } from "./campaign-fields.js";
import { RulesError, rulesEditor } from "./campaign-rules.js";
const PHASED = ["arms", "holdout", "rules"];
const FIXED = ["goal", "secondary_goals"];
const MAX_ARMS = 10;
const MAX_SECONDARY = 5;
const MAX_BUTTONS = 4;

/**
 * The editor: a form element. `campaign` is null for a new one. `onSaved(campaign)` after a
 * successful save; `onCancel()` when the agent gives up; `handleError(err)` for a session
 * that has ended.
 */
export function campaignEditor({ campaign, spaces, defaultSpace, onSaved, onCancel, handleError }) {
  const isNew = !campaign;
  const launched = !isNew && campaign.phase > 0;
  const ended = !isNew && campaign.status === "ended";
  const c = campaign || {
    name: "",
    space: defaultSpace || spaces[0]?.key,
    priority: 0,
    starts_at: null,
    ends_at: null,
    arms: [
      { key: "a", weight: 1, message: "", buttons: [], sender: null },
      { key: "b", weight: 1, message: "", buttons: [], sender: null },
    ],
    holdout: 0,
    rules: { all: [] },
    goal: { event: "", window_hours: 72 },
    secondary_goals: [],
    caps: { per_session: 1, per_visitor: null, per_day: null, cooldown_hours: 24, open_conversation: "skip" },
  };

  // -- the campaign itself
  const name = h("input", { type: "text", value: c.name, maxlength: "200", autocomplete: "off" });
  const space = h(
    "select",
    { disabled: !isNew },
    spaces.map((s) => h("option", { value: s.key, selected: s.key === c.space }, bidiText(s.key))),
  );
  const priority = h("input", { type: "number", class: "narrow", min: "-1000", max: "1000", step: "1", value: String(c.priority ?? 0) });
  const starts = h("input", { type: "datetime-local", value: localInput(c.starts_at) });
  const ends = h("input", { type: "datetime-local", value: localInput(c.ends_at) });
  const basics = h(
    "fieldset",
    { class: "section" },
    h("legend", {}, t("editor.basics")),
    h(
      "div",
      { class: "form-grid" },
      h("div", { class: "span-2" }, labelled(t("editor.name"), name, t("editor.nameHint"))),
      labelled(t("editor.space"), space, isNew ? "" : t("editor.spaceFixed")),
      labelled(t("editor.priority"), priority, t("editor.priorityHint")),
      labelled(t("editor.starts"), starts, t("editor.startsHint")),
      labelled(t("editor.ends"), ends, t("editor.endsHint")),
    ),
  );

  // -- arms and holdout
  const arms = [];
  const armList = h("div", { class: "arms" });
  const addArm = h("button", { type: "button", class: "btn small" }, "+ ", t("editor.addArm"));
  const renumberArms = () => {
    arms.forEach((a, i) => {
      a.number(i);
      a.remove.hidden = arms.length <= 1;
    });
    addArm.disabled = arms.length >= MAX_ARMS;
  };
  const removeArm = (row) => {
    const i = arms.indexOf(row);
    arms.splice(i, 1);
    row.el.remove();
    renumberArms();
    (arms[i] || arms[i - 1])?.fields.key.focus();
    changed();
  };
  const pushArm = (arm) => {
    const row = armRow(arm, arms.length, { onRemove: removeArm });
    arms.push(row);
    armList.append(row.el);
    renumberArms();
    return row;
  };
  for (const arm of c.arms) pushArm(arm);
  addArm.addEventListener("click", () => {
    const used = new Set(arms.map((a) => a.fields.key.value.trim()));
    const key = "abcdefghijklmnopqrstuvwxyz".split("").find((k) => !used.has(k)) || `arm${arms.length + 1}`;
    pushArm({ key, weight: 1, message: "", buttons: [], sender: null }).fields.message.focus();
    changed();
  });
  const holdout = h("input", { type: "number", class: "narrow", min: "0", max: "99", step: "any", value: String(round(c.holdout * 100)) });
  const armsSection = h(
    "fieldset",
    { class: "section" },
    h("legend", {}, t("editor.arms")),
    h("p", { class: "muted small" }, t("editor.armsIntro")),
    armList,
    addArm,
    h("div", { class: "holdout" }, labelled(t("editor.holdout"), holdout, t("editor.holdoutHint"), "%")),
  );

  // -- targeting
  const rules = rulesEditor(c.rules);
  const rulesSection = h("fieldset", { class: "section" }, h("legend", {}, t("editor.targeting")), rules.el);

  // -- goals
  const goal = goalRow(c.goal, { secondary: false });
  const secondaries = [];
  const secondaryList = h("div", { class: "secondary-goals" });
  const addSecondary = h("button", { type: "button", class: "btn small" }, "+ ", t("goal.addSecondary"));
  const renumberGoals = () => {
    secondaries.forEach((g, i) => g.number(i));
    addSecondary.disabled = secondaries.length >= MAX_SECONDARY;
  };
  const removeSecondary = (row) => {
    secondaries.splice(secondaries.indexOf(row), 1);
    row.el.remove();
    renumberGoals();
    addSecondary.focus();
    changed();
  };
  const pushSecondary = (g) => {
    const row = goalRow(g, { secondary: true, onRemove: removeSecondary });
    secondaries.push(row);
    secondaryList.append(row.el);
    renumberGoals();
    return row;
  };
  for (const g of c.secondary_goals) pushSecondary(g);
  addSecondary.addEventListener("click", () => {
    pushSecondary({ replied: true, window_hours: 72 }).focus();
    changed();
  });
  const goalSection = h(
    "fieldset",
    { class: "section", disabled: launched },
    h("legend", {}, t("editor.goals")),
    launched ? h("p", { class: "notice" }, t("editor.goalsFixed")) : h("p", { class: "muted small" }, t("editor.goalsIntro")),
    goal.el,
    h("h4", { class: "sub" }, t("goal.secondary")),
    secondaryList,
    addSecondary,
  );

  // -- caps
  const caps = c.caps;
  const perSession = h("input", { type: "number", class: "narrow", min: "1", step: "1", value: caps.per_session ?? "" });
  const perVisitor = h("input", { type: "number", class: "narrow", min: "1", step: "1", value: caps.per_visitor ?? "" });
  const perDay = h("input", { type: "number", class: "narrow", min: "1", step: "1", value: caps.per_day ?? "" });
  const cooldown = h("input", { type: "number", class: "narrow", min: "0", step: "any", value: String(caps.cooldown_hours ?? 24) });
  const openConversation = h(
    "select",
    {},
    ["skip", "show"].map((v) => h("option", { value: v, selected: v === caps.open_conversation }, t(`caps.open.${v}`))),
  );
  const capsSection = h(
    "fieldset",
    { class: "section" },
    h("legend", {}, t("editor.caps")),
    h("p", { class: "muted small" }, t("caps.intro")),
    h(
      "div",
      { class: "form-grid caps" },
      labelled(t("caps.perSession"), perSession),
      labelled(t("caps.perVisitor"), perVisitor),
      labelled(t("caps.perDay"), perDay),
      labelled(t("caps.cooldown"), cooldown, t("caps.cooldownHint")),
      h("div", { class: "span-2" }, labelled(t("caps.openConversation"), openConversation)),
    ),
  );

  // -- saving
  const error = h("div", { class: "form-error", role: "alert", tabindex: "-1" });
  const phaseNote = launched && !ended ? h("p", { class: "phase-note", role: "status" }) : null;
  const save = h("button", { type: "submit", class: "btn primary" }, isNew ? t("editor.create") : t("editor.save"));
  const cancel = h("button", { type: "button", class: "btn ghost" }, t("common.cancel"));
  cancel.addEventListener("click", () => onCancel?.());
  const footer = h("div", { class: "form-footer" }, error, phaseNote, h("div", { class: "form-buttons" }, save, cancel));

  const form = h(
    "form",
    { class: "campaign-form", novalidate: true, "aria-label": isNew ? t("editor.newTitle") : t("editor.editTitle") },
    ended ? h("p", { class: "notice" }, t("editor.ended")) : null,
    h("fieldset", { class: "sections", disabled: ended }, basics, armsSection, rulesSection, goalSection, capsSection),
    ended ? null : footer,
  );

  function read() {
    return {
      name: name.value,
      space: space.value,
      priority: intOr(priority, 0),
      starts_at: utc(starts.value),
      ends_at: utc(ends.value),
      arms: arms.map((a) => a.read()),
      holdout: holdout.value.trim() === "" ? 0 : round(Number(holdout.value) / 100, 6),
      rules: rules.read(),
      goal: goal.read(),
      secondary_goals: secondaries.map((g) => g.read()),
      caps: {
        per_session: intOr(perSession, null),
        per_visitor: intOr(perVisitor, null),
        per_day: intOr(perDay, null),
        cooldown_hours: intOr(cooldown, 0),
        open_conversation: openConversation.value,
      },
    };
  }

  const baseline = isNew ? null : safeRead();

  function safeRead() {
    try {
      return read();
    } catch {
      return null;
    }
  }

  /** The fields that differ from what was loaded (all of them for a new campaign). */
  function changes(values) {
    if (isNew) return values;
    const out = {};
    for (const [k, v] of Object.entries(values)) {
      if (k === "space" || (launched && FIXED.includes(k))) continue;
      if (JSON.stringify(v) !== JSON.stringify(baseline?.[k])) out[k] = v;
    }
    return out;
  }

  function changed() {
    if (!phaseNote) return;
    const values = safeRead();
    const touched = values ? PHASED.filter((k) => k in changes(values)) : [];
    phaseNote.classList.toggle("pending", touched.length > 0);
    phaseNote.textContent = touched.length
      ? t("editor.phasePending", { n: campaign.phase + 1, fields: touched.map((f) => t(`field.${f}`)).join(", ") })
      : t("editor.phaseNotice", { n: campaign.phase + 1 });
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  changed();

  function clearErrors() {
    clear(error);
    form.classList.remove("has-error");
    rules.clearInvalid();
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  }

  /** Mark the field a server message names ("arms.1.message: ...", "rules.all[2]...") and
   * say where it is. */
  function pointAt(message) {
    const path = /^([\w.[\]]+): /.exec(message)?.[1] || "";
    if (path.startsWith("rules")) return rules.markInvalid(path);
    const parts = path.split(".");
    let input;
    let where = null;
    const arm = /^arms\.(\d+)(?:\.(\w+))?/.exec(path);
    const secondary = /^secondary_goals\.(\d+)/.exec(path);
    if (arm && arms[Number(arm[1])]) {
      const row = arms[Number(arm[1])];
      input = row.fields[arm[2]] || row.fields.key;
      where = t("editor.armN", { n: Number(arm[1]) + 1 });
    } else if (secondary && secondaries[Number(secondary[1])]) {
      input = secondaries[Number(secondary[1])].el.querySelector("select");
      where = t("goal.secondaryN", { n: Number(secondary[1]) + 1 });
    } else if (parts[0] === "goal") {
      input = goal.el.querySelector("select");
      where = t("editor.goals");
    } else if (parts[0] === "caps") {
      const map = { per_session: perSession, per_visitor: perVisitor, per_day: perDay, cooldown_hours: cooldown, open_conversation: openConversation };
      input = map[parts[1]] || perSession;
      where = t("editor.caps");
    } else {
      const map = { name, holdout, priority, starts_at: starts, ends_at: ends };
      input = map[parts[0]] || null;
      if (!input && /starts_at|ends_at/.test(message)) input = ends;
    }
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.closest(".field")?.classList.add("invalid");
    }
    return where;
  }

  function showError(text, where = null) {
    form.classList.add("has-error");
    clear(
      error,
      h("strong", {}, t("editor.notSaved")),
      " ",
      where ? h("span", { class: "where" }, `${where} · `) : null,
      bidi(text),
    );
    error.focus({ preventScroll: true });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    let values;
    try {
      values = read();
    } catch (err) {
      if (err instanceof RulesError) {
        showError(err.message, rules.markInvalid("rules"));
        return;
      }
      throw err;
    }
    const tooMany = values.arms.findIndex((a) => a.buttons.length > MAX_BUTTONS);
    if (tooMany >= 0) {
      arms[tooMany].fields.buttons.setAttribute("aria-invalid", "true");
      showError(t("editor.tooManyButtons", { n: MAX_BUTTONS }), t("editor.armN", { n: tooMany + 1 }));
      return;
    }
    const body = changes(values);
    if (!isNew && Object.keys(body).length === 0) {
      onSaved?.(campaign, { unchanged: true });
      return;
    }
    save.disabled = true;
    try {
      const saved = isNew ? await post("/api/campaigns", body) : await patch(`/api/campaigns/${encodeURIComponent(campaign.id)}`, body);
      onSaved?.(saved, {});
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return handleError(err);
      const text = err instanceof ApiError && err.message ? err.message : t("error.generic");
      showError(text, pointAt(text));
    } finally {
      save.disabled = false;
    }
  });

  return form;
}

function round(value, digits = 4) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
