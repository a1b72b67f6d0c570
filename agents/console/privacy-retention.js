// The Privacy page's retention panel (#privacy/retention): how long a space keeps each kind of
// data, from GET /api/spaces/{key}/retention (the policy and its dry run: what it would delete
// now). A policy typed in days (empty: forever) is previewed with the same call and a query
// (?messages=30&events=forever) before it is saved (PUT): nothing is deleted here, the job does
// it at its next run, and never what a legal hold keeps.

import { ApiError, api, get } from "./api.js";
import { announce, bidi, clear, h } from "./dom.js";
import { t, tNodes } from "./i18n.js";
import { KINDS, chooseSpace, confirmDialog, count, countsTable, currentSpace, heldList, spaceField, utcLabel } from "./privacy-common.js";

const MAX_DAYS = 36500;

export function retentionPanel(ctx) {
  let space = currentSpace();
  let shown = null; // {policy, counts, preview: bool}: the dry run on screen
  let my = 0; // the answer being waited for; an older one is dropped
  let known = new Map(); // the space's holds by id: what each one covers
  let current = null; // the saved policy

  const picker = spaceField("retention-space", space, {
    onChange: (key) => {
      space = key;
      chooseSpace(key);
      load();
    },
  });
  const inputs = {};
  const saved = {};
  const kinds = KINDS.map((kind) => {
    const id = `retention-${kind}`;
    inputs[kind] = h("input", {
      id,
      name: kind,
      type: "number",
      min: "1",
      max: String(MAX_DAYS),
      step: "1",
      inputmode: "numeric",
      placeholder: t("privacy.forever"),
      "aria-describedby": `${id}-hint ${id}-now`,
    });
    saved[kind] = h("span", { class: "retention-now", id: `${id}-now` });
    return h(
      "div",
      { class: "retention-kind field", dataset: { kind } },
      h("label", { for: id }, t(`privacy.kind.${kind}`)),
      h("div", { class: "with-unit" }, inputs[kind], h("span", { class: "unit" }, t("privacy.days"))),
      h("p", { class: "field-hint", id: `${id}-hint` }, t(`privacy.kind.${kind}.hint`)),
      saved[kind],
    );
  });
  const preview = h("button", { type: "button", class: "btn", id: "retention-preview" }, t("privacy.retention.preview"));
  const save = h("button", { type: "submit", class: "btn primary", id: "retention-save" }, t("privacy.retention.save"));
  const error = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const form = h(
    "form",
    { class: "retention-form", novalidate: true },
    h("div", { class: "retention-kinds" }, kinds),
    h("p", { class: "retention-when" }, t("privacy.retention.when")),
    error,
    h("div", { class: "form-buttons" }, preview, save),
  );
  const result = h("div", { class: "dry-run", id: "dry-run" }, h("p", { class: "muted" }, t("common.loading")));

  /** The policy typed, or null (the error said where). */
  const typed = () => {
    error.textContent = "";
    const policy = {};
    for (const kind of KINDS) {
      const input = inputs[kind];
      input.removeAttribute("aria-invalid");
      const raw = input.value.trim();
      if (raw === "" && !input.validity.badInput) {
        policy[kind] = null;
        continue;
      }
      const days = Number(raw);
      if (!/^\d+$/.test(raw) || days < 1 || days > MAX_DAYS) {
        input.setAttribute("aria-invalid", "true");
        error.textContent = t("privacy.retention.bad", { kind: t(`privacy.kind.${kind}`), max: count(MAX_DAYS) });
        input.focus();
        return null;
      }
      policy[kind] = days;
    }
    return policy;
  };
  const same = (a, b) => a && b && KINDS.every((k) => (a[k] ?? null) === (b[k] ?? null));

  const fill = (policy) => {
    current = policy;
    for (const kind of KINDS) {
      const days = policy[kind];
      inputs[kind].value = days == null ? "" : String(days);
      saved[kind].textContent = t("privacy.retention.now", { value: daysLabel(days) });
    }
  };

  const draw = (answer, { previewing, justSaved = false }) => {
    const run = answer.dry_run;
    const policy = previewing ? answer.preview : answer.policy;
    shown = { policy, counts: run.counts, preview: previewing };
    const total = Object.values(run.counts).reduce((a, b) => a + b, 0);
    const summary = KINDS.map((kind) =>
      h(
        "li",
        { dataset: { kind } },
        h("strong", {}, t(`privacy.kind.${kind}`)),
        " ",
        daysLabel(policy[kind]),
        run.cutoffs[kind] ? h("span", { class: "muted" }, " — ", t("privacy.retention.before", { time: utcLabel(run.cutoffs[kind]) })) : null,
      ),
    );
    clear(
      result,
      h(
        "div",
        { class: `dry-run-head ${previewing ? "is-preview" : "is-saved"}` },
        h("h3", { id: "dry-run-title" }, previewing ? t("privacy.retention.previewTitle") : justSaved ? t("privacy.retention.savedTitle") : t("privacy.retention.currentTitle")),
        previewing ? h("span", { class: "chip preview-chip" }, t("privacy.retention.notSaved")) : null,
      ),
      h("ul", { class: "policy-summary" }, summary),
      h("p", { class: "stale-note", hidden: true }, t("privacy.retention.stale")),
      total
        ? [
            h("p", { class: "dry-run-lead" }, tNodes(previewing ? "privacy.retention.wouldDelete" : "privacy.retention.willDelete", { n: h("strong", {}, count(total)) })),
            countsTable(run.counts, { id: "dry-run-counts", caption: t("privacy.retention.countsCaption") }),
          ]
        : h("p", { class: "dry-run-lead nothing" }, KINDS.some((k) => policy[k] != null) ? t("privacy.retention.nothing") : t("privacy.retention.keepsAll")),
      run.holds.length
        ? h("div", { class: "dry-run-holds" }, h("h4", {}, t("privacy.retention.holds")), heldList(run.holds, { known }))
        : h("p", { class: "muted small" }, t("privacy.retention.noHolds")),
    );
  };

  const query = (policy) => {
    const params = new URLSearchParams();
    for (const kind of KINDS) params.set(kind, policy[kind] == null ? "forever" : String(policy[kind]));
    return params;
  };

  const failed = (err) => {
    if (err instanceof ApiError && (err.status === 400 || err.status === 422)) {
      error.textContent = err.message || t("error.generic");
      error.focus();
    } else {
      ctx.handleError(err);
    }
  };

  async function load() {
    const me = ++my;
    error.textContent = "";
    result.setAttribute("aria-busy", "true");
    try {
      const [answer, { holds }] = await Promise.all([
        get(`/api/spaces/${encodeURIComponent(space)}/retention`),
        get(`/api/holds?${new URLSearchParams({ space })}`),
      ]);
      if (me !== my || !ctx.alive()) return;
      known = new Map(holds.map((hold) => [hold.id, hold]));
      fill(answer.policy);
      draw(answer, { previewing: false });
    } catch (err) {
      if (me === my && ctx.alive()) failed(err);
    } finally {
      result.removeAttribute("aria-busy");
    }
  }

  async function previewOf(policy) {
    return get(`/api/spaces/${encodeURIComponent(space)}/retention?${query(policy)}`);
  }

  preview.addEventListener("click", async () => {
    const policy = typed();
    if (!policy) return;
    const me = ++my;
    preview.disabled = true;
    try {
      const answer = await previewOf(policy);
      if (me !== my || !ctx.alive()) return;
      draw(answer, { previewing: true });
      announce(t("privacy.retention.previewed"));
    } catch (err) {
      if (me === my && ctx.alive()) failed(err);
    } finally {
      preview.disabled = false;
    }
  });

  form.addEventListener("input", () => {
    if (!shown?.preview) return;
    const policy = {};
    for (const kind of KINDS) policy[kind] = inputs[kind].value.trim() === "" ? null : Number(inputs[kind].value);
    const note = result.querySelector(".stale-note");
    if (note) note.hidden = same(policy, shown.policy);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const policy = typed();
    if (!policy) return;
    if (same(policy, current)) {
      ctx.toast(t("privacy.retention.unchanged")); // nothing to save, nothing to audit
      return;
    }
    const me = ++my;
    save.disabled = preview.disabled = true;
    try {
      // what it deletes: the preview on screen if it is of this very policy, else a fresh one
      let counts = shown?.preview && same(shown.policy, policy) ? shown.counts : null;
      if (!counts) {
        const answer = await previewOf(policy);
        if (me !== my || !ctx.alive()) return;
        draw(answer, { previewing: true });
        counts = answer.dry_run.counts;
      }
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      if (total > 0) {
        const ok = await confirmDialog({
          id: "retention-confirm",
          title: t("privacy.retention.confirmTitle", { space }),
          body: [
            h("p", {}, tNodes("privacy.retention.confirmText", { n: h("strong", {}, count(total)), space: bidi(space) })),
            countsTable(counts, { id: "confirm-counts", caption: t("privacy.retention.countsCaption") }),
            h("p", { class: "muted small" }, t("privacy.retention.confirmHolds")),
          ],
          confirm: t("privacy.retention.confirm"),
        });
        if (!ok || me !== my || !ctx.alive()) return;
      }
      const answer = await api("PUT", `/api/spaces/${encodeURIComponent(space)}/retention`, policy);
      if (me !== my || !ctx.alive()) return;
      fill(answer.policy);
      draw(answer, { previewing: false, justSaved: true });
      ctx.toast(t("privacy.retention.saved", { space }));
    } catch (err) {
      if (me === my && ctx.alive()) failed(err);
    } finally {
      save.disabled = preview.disabled = false;
    }
  });

  load();
  return h(
    "section",
    { class: "privacy-panel retention-panel", "aria-labelledby": "retention-title" },
    h("h2", { id: "retention-title", class: "panel-title" }, t("privacy.tab.retention")),
    h("p", { class: "panel-lead" }, t("privacy.retention.lead")),
    h("p", { class: "callout" }, h("strong", {}, t("privacy.retention.jobTitle")), " ", t("privacy.retention.job")),
    h("div", { class: "privacy-controls" }, picker.field),
    h("div", { class: "retention-grid" }, form, result),
  );
}

export function daysLabel(days) {
  return days == null ? t("privacy.forever") : t("privacy.nDays", { n: count(days) });
}
