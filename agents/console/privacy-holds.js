// The Privacy page's legal holds panel (#privacy/holds): the holds of the admin's spaces,
// active and released (GET /api/holds), a form to place one on a whole space, a visitor, a
// conversation or a range of days (POST /api/holds, a reason always), and their release
// (DELETE /api/holds/{id}?reason=..., after a confirmation with a reason). A hold keeps data
// from retention and erasure; its release deletes nothing by itself.

import { ApiError, del, get, post } from "./api.js";
import { bidi, clear, h } from "./dom.js";
import { dateTimeLabel, t, tNodes } from "./i18n.js";
import { state } from "./state.js";
import { confirmDialog, covers, currentSpace, momentLabel, spaceField, utcMidnight } from "./privacy-common.js";

const SCOPES = ["space", "visitor", "conversation", "range"];

export function holdsPanel(ctx) {
  const many = state.session.spaces.length > 1;
  const list = h("div", { class: "holds-list" }, h("p", { class: "muted" }, t("common.loading")));
  let my = 0;

  // -- the form ------------------------------------------------------------------------------
  const picker = spaceField("hold-space", currentSpace());
  const scope = h(
    "select",
    { id: "hold-scope" },
    SCOPES.map((s) => h("option", { value: s }, t(`privacy.scope.${s}`))),
  );
  const visitor = h("input", { id: "hold-visitor", type: "text", autocomplete: "off", spellcheck: "false", maxlength: "36" });
  const conversation = h("input", { id: "hold-conversation", type: "text", autocomplete: "off", spellcheck: "false", maxlength: "36" });
  const since = h("input", { id: "hold-since", type: "date" });
  const until = h("input", { id: "hold-until", type: "date" });
  const reason = h("textarea", { id: "hold-reason", rows: "2", maxlength: "2000", required: true, placeholder: t("privacy.holds.reasonPlaceholder") });
  const field = (id, label, control, hint = null, extra = "") =>
    h("div", { class: `field ${extra}`, dataset: { for: id } }, h("label", { for: id }, label), control, hint ? h("p", { class: "field-hint" }, hint) : null);
  const visitorField = field("hold-visitor", t("privacy.holds.visitorId"), visitor, t("privacy.holds.visitorHint"));
  const conversationField = field("hold-conversation", t("privacy.holds.conversationId"), conversation, t("privacy.holds.conversationHint"));
  const rangeFields = h(
    "div",
    { class: "hold-range" },
    field("hold-since", t("privacy.from"), since, null, "date-field"),
    field("hold-until", t("privacy.toIncluded"), until, null, "date-field"),
    h("p", { class: "field-hint span-all" }, t("privacy.holds.rangeHint")),
  );
  const error = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const submit = h("button", { type: "submit", class: "btn primary", id: "hold-place" }, t("privacy.holds.place"));
  const scopeHint = h("p", { class: "field-hint", id: "hold-scope-hint" });
  scope.setAttribute("aria-describedby", "hold-scope-hint");
  const form = h(
    "form",
    { class: "hold-form", novalidate: true, "aria-labelledby": "hold-form-title" },
    h("h3", { id: "hold-form-title" }, t("privacy.holds.formTitle")),
    h("div", { class: "hold-grid" }, picker.field, field("hold-scope", t("privacy.holds.scope"), scope), scopeHint),
    visitorField,
    conversationField,
    rangeFields,
    field("hold-reason", t("privacy.reasonRequired"), reason, t("privacy.holds.reasonHint")),
    error,
    h("div", { class: "form-buttons" }, submit),
  );
  const showScope = () => {
    visitorField.hidden = scope.value !== "visitor";
    conversationField.hidden = scope.value !== "conversation";
    rangeFields.hidden = scope.value !== "range";
    scopeHint.textContent = t(`privacy.scope.${scope.value}.hint`);
  };
  scope.addEventListener("change", showScope);
  showScope();

  const invalid = (input, text) => {
    input.setAttribute("aria-invalid", "true");
    error.textContent = text;
    input.focus();
    return null;
  };
  const body = () => {
    error.textContent = "";
    for (const input of [visitor, conversation, since, until, reason]) input.removeAttribute("aria-invalid");
    const out = { space: picker.value(), scope: scope.value, reason: reason.value.trim() };
    if (out.scope === "visitor") {
      out.visitor_id = visitor.value.trim();
      if (!out.visitor_id) return invalid(visitor, t("privacy.holds.needVisitor"));
    }
    if (out.scope === "conversation") {
      out.conversation_id = conversation.value.trim();
      if (!out.conversation_id) return invalid(conversation, t("privacy.holds.needConversation"));
    }
    if (out.scope === "range") {
      if (!since.value && !until.value) return invalid(since, t("privacy.holds.needRange"));
      if (since.value) out.since = utcMidnight(since.value);
      if (until.value) out.until = utcMidnight(until.value, { next: true });
      if (out.since && out.until && out.since >= out.until) return invalid(until, t("privacy.holds.badRange"));
    }
    if (!out.reason) return invalid(reason, t("privacy.holds.needReason"));
    return out;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const payload = body();
    if (!payload) return;
    submit.disabled = true;
    try {
      const hold = await post("/api/holds", payload);
      if (!ctx.alive()) return;
      for (const input of [visitor, conversation, since, until, reason]) input.value = "";
      ctx.toast(t("privacy.holds.placed"));
      await load(hold.id);
    } catch (err) {
      if (!ctx.alive()) return;
      if (err instanceof ApiError && [400, 404, 422].includes(err.status)) {
        error.textContent = err.message || t("error.generic");
        error.focus();
      } else {
        ctx.handleError(err);
      }
    } finally {
      submit.disabled = false;
    }
  });

  // -- the list ------------------------------------------------------------------------------
  const release = async (hold) => {
    const ok = await confirmDialog({
      id: "release",
      title: t("privacy.holds.releaseTitle"),
      body: [
        h("p", {}, h("strong", {}, covers(hold)), many ? [" — ", bidi(hold.space || "")] : null),
        h("p", {}, tNodes("privacy.holds.placedFor", { reason: h("q", {}, bidi(hold.reason)) })),
        h("p", {}, t("privacy.holds.releaseText")),
      ],
      confirm: t("privacy.holds.releaseConfirm"),
      reason: { label: t("privacy.reasonRequired"), hint: t("privacy.holds.releaseHint"), required: true },
    });
    if (!ok || !ctx.alive()) return;
    try {
      await del(`/api/holds/${encodeURIComponent(hold.id)}?${new URLSearchParams({ reason: ok.reason })}`);
      if (!ctx.alive()) return;
      ctx.toast(t("privacy.holds.released"));
      await load(hold.id);
    } catch (err) {
      if (ctx.alive()) ctx.handleError(err);
    }
  };

  const draw = (holds, focusId) => {
    if (!holds.length) {
      clear(list, h("p", { class: "empty-panel" }, t("privacy.holds.none")));
      return;
    }
    const sorted = [...holds].sort((a, b) => Number(b.active) - Number(a.active) || (a.placed_at < b.placed_at ? 1 : -1));
    const cols = [t("privacy.col.status"), many ? t("campaigns.space") : null, t("privacy.col.covers"), t("privacy.col.reason"), t("privacy.col.placed"), t("privacy.col.released"), ""];
    const label = (i) => cols[i] || null;
    clear(
      list,
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "table privacy-table holds-table", id: "holds-table" },
          h("caption", { class: "visually-hidden" }, t("privacy.holds.listTitle")),
          h("thead", {}, h("tr", {}, cols.filter((c) => c !== null).map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            {},
            sorted.map((hold) =>
              h(
                "tr",
                { dataset: { holdId: hold.id, active: String(hold.active) }, class: hold.active ? "" : "released" },
                h("td", { "data-label": label(0) }, h("span", { class: `status-badge ${hold.active ? "st-live" : "st-ended"}` }, hold.active ? t("privacy.holds.active") : t("privacy.holds.releasedBadge"))),
                many ? h("td", { "data-label": label(1) }, bidi(hold.space || "")) : null,
                h("th", { scope: "row", class: "covers", "data-label": label(2) }, covers(hold)),
                h("td", { class: "reason", "data-label": label(3) }, bidi(hold.reason)),
                h("td", { "data-label": label(4) }, h("span", {}, bidi(hold.placed_by || t("privacy.system"))), h("div", { class: "muted small" }, h("time", { datetime: hold.placed_at, title: momentLabel(hold.placed_at) }, dateTimeLabel(hold.placed_at)))),
                h(
                  "td",
                  { "data-label": label(5) },
                  hold.released_at
                    ? [h("span", {}, bidi(hold.released_by || t("privacy.system"))), h("div", { class: "muted small" }, h("time", { datetime: hold.released_at, title: momentLabel(hold.released_at) }, dateTimeLabel(hold.released_at)))]
                    : "—",
                ),
                h(
                  "td",
                  { class: "actions" },
                  hold.active
                    ? h("button", { type: "button", class: "btn small danger", "aria-label": t("privacy.holds.releaseFor", { reason: hold.reason }), onclick: () => release(hold) }, t("privacy.holds.release"))
                    : null,
                ),
              ),
            ),
          ),
        ),
      ),
    );
    if (focusId) list.querySelector(`tr[data-hold-id="${CSS.escape(focusId)}"]`)?.classList.add("just-changed");
  };

  async function load(focusId = null) {
    const me = ++my;
    try {
      const { holds } = await get("/api/holds");
      if (me !== my || !ctx.alive()) return;
      draw(holds, focusId);
    } catch (err) {
      if (me === my && ctx.alive()) ctx.handleError(err);
    }
  }

  load();
  return h(
    "section",
    { class: "privacy-panel holds-panel", "aria-labelledby": "holds-title" },
    h("h2", { id: "holds-title", class: "panel-title" }, t("privacy.tab.holds")),
    h("p", { class: "panel-lead" }, t("privacy.holds.lead")),
    h("div", { class: "holds-grid" }, h("div", { class: "holds-main" }, h("h3", { class: "sub-title" }, t("privacy.holds.listTitle")), list), form),
  );
}
