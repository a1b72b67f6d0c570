// Admin: webhooks of my spaces (docs/integrations.md). The list never holds a secret; a new
// or rotated secret is shown once, with a copy button, until the panel is left. Each webhook
// opens its editor (URL, events, mode) and its delivery log (status, latency, the start of
// the answer), from which one event, or a time range, is sent again. URLs, answers and spaces
// are bidi-isolated text; deleting and rotating ask once more, inline.

import { del, get, patch, post } from "./api.js";
import { bidi, bidiText, clear, h } from "./dom.js";
import { dateTimeLabel, t } from "./i18n.js";

// chat/outbox.py EVENT_TYPES, in its order
export const EVENTS = [
  "message.created",
  "conversation.created",
  "conversation.assigned",
  "conversation.status_changed",
  "csat.submitted",
  "campaign.exposure",
  "goal.converted",
  "visitor.erased",
  "retention.completed",
  "webhook.test",
];

/** The panel: `again()` shows it afresh; `fresh` is a secret just made ({url, secret}). */
export async function webhooksPanel(ctx, panel, again, fresh = null) {
  const { webhooks } = await get("/api/webhooks");
  const detail = h("div", { class: "webhook-detail" });
  clear(
    panel,
    h("p", { class: "muted small" }, t("hooks.help")),
    fresh ? secretOnce(ctx, fresh) : null,
    hooksTable(ctx, webhooks, panel, again, detail),
    detail,
    newHookForm(ctx, panel, again),
  );
}

async function act(ctx, fn, after) {
  try {
    await fn();
    ctx.toast(t("admin.saved"));
    await after();
  } catch (err) {
    ctx.handleError(err);
  }
}

function secretOnce(ctx, made) {
  const value = h("input", { id: "new-hook-secret", class: "export-url", size: "52", readonly: true, value: made.secret, "aria-describedby": "new-hook-once", spellcheck: "false" });
  const copy = h("button", { type: "button", class: "btn small primary" }, t("keys.copy"));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(made.secret);
      ctx.toast(t("hooks.copied"));
    } catch {
      value.select(); // no clipboard (an insecure origin): selected, for the keyboard
    }
  });
  queueMicrotask(() => value.select());
  return h(
    "section",
    { class: "card key-once", role: "status" },
    h("h3", {}, bidi(made.url)),
    h("p", { id: "new-hook-once", class: "notice" }, t("hooks.once")),
    h("div", { class: "inline-form" }, h("label", { for: "new-hook-secret", class: "visually-hidden" }, t("hooks.secret")), value, copy),
  );
}

function eventChecks(prefix, chosen) {
  return EVENTS.map((e) => h("label", { class: "check" }, h("input", { type: "checkbox", value: e, checked: chosen.includes(e), name: `${prefix}-events` }), h("code", {}, e)));
}

function checked(labels) {
  return labels.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value);
}

function hooksTable(ctx, webhooks, panel, again, detail) {
  if (!webhooks.length) return h("p", { class: "muted" }, t("hooks.none"));
  const rows = webhooks.map((w) => {
    const actions = h("td", { class: "row-actions" });
    const button = (label, onclick, cls = "ghost") => h("button", { type: "button", class: `btn small ${cls}`, onclick }, label);
    const confirm = (label, fn) => {
      const sure = button(label, fn, "danger");
      clear(actions, sure, button(t("common.cancel"), () => again()));
      sure.focus();
    };
    actions.append(
      button(t("hooks.edit"), () => editor(ctx, w, detail, again)),
      button(t("hooks.log"), () => deliveriesView(ctx, w, detail)),
      button(t("hooks.test"), () =>
        act(ctx, () => post(`/api/webhooks/${encodeURIComponent(w.id)}/test`), () => deliveriesView(ctx, w, detail)),
      ),
      button(w.enabled ? t("hooks.disable") : t("hooks.enable"), () =>
        act(ctx, () => patch(`/api/webhooks/${encodeURIComponent(w.id)}`, { enabled: !w.enabled }), again),
      ),
      button(t("hooks.rotate"), () =>
        confirm(t("hooks.confirmRotate"), async () => {
          try {
            const made = await patch(`/api/webhooks/${encodeURIComponent(w.id)}`, { rotate_secret: true });
            await webhooksPanel(ctx, panel, again, made);
          } catch (err) {
            ctx.handleError(err);
          }
        }),
      ),
      button(
        t("hooks.delete"),
        () => confirm(t("hooks.confirmDelete"), () => act(ctx, () => del(`/api/webhooks/${encodeURIComponent(w.id)}`), again)),
        "danger",
      ),
    );
    const state = w.enabled ? t("hooks.enabled") : w.disabled_reason ? t("hooks.disabledBecause", { reason: w.disabled_reason }) : t("hooks.disabled");
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, h("span", { class: "export-url" }, bidi(w.url)), w.previous_secret_until ? h("div", { class: "muted small" }, t("hooks.rotating", { until: dateTimeLabel(w.previous_secret_until) })) : null),
      h("td", { "data-label": t("keys.space") }, bidi(w.space)),
      h("td", { "data-label": t("hooks.events") }, w.events.map((e) => h("span", { class: "chip small" }, e))),
      h("td", { "data-label": t("hooks.mode") }, w.minimal ? t("hooks.minimal") : t("hooks.full")),
      h("td", { "data-label": t("keys.status") }, state),
      actions,
    );
  });
  const heads = [t("hooks.url"), t("keys.space"), t("hooks.events"), t("hooks.mode"), t("keys.status"), ""];
  return h(
    "div",
    { class: "table-scroll" },
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)),
  );
}

function editor(ctx, w, detail, again) {
  const url = h("input", { id: "edit-hook-url", type: "url", required: true, maxlength: "2048", value: w.url });
  const events = eventChecks("edit-hook", w.events);
  const minimal = h("input", { id: "edit-hook-minimal", type: "checkbox", checked: w.minimal });
  const form = h(
    "form",
    { class: "grid-form" },
    h("h3", {}, t("hooks.editTitle")),
    h("label", { for: "edit-hook-url" }, t("hooks.url")),
    url,
    h("fieldset", {}, h("legend", {}, t("hooks.events")), events),
    h("fieldset", {}, h("legend", {}, t("hooks.mode")), h("label", { class: "check" }, minimal, t("hooks.minimalLabel"))),
    h("button", { type: "submit", class: "btn primary" }, t("common.save")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = checked(events);
    if (!chosen.length) {
      events[0].firstChild.focus();
      ctx.toast(t("hooks.pickEvent"));
      return;
    }
    act(ctx, () => patch(`/api/webhooks/${encodeURIComponent(w.id)}`, { url: url.value, events: chosen, minimal: minimal.checked }), again);
  });
  clear(detail, form);
  url.focus();
}

async function deliveriesView(ctx, w, detail) {
  let log;
  try {
    ({ deliveries: log } = await get(`/api/webhooks/${encodeURIComponent(w.id)}/deliveries?limit=50`));
  } catch (err) {
    ctx.handleError(err);
    return;
  }
  const refresh = () => deliveriesView(ctx, w, detail);
  const again = (body) => act(ctx, () => post(`/api/webhooks/${encodeURIComponent(w.id)}/redeliver`, body), refresh);
  const rows = log.map((d) => {
    const answer = d.response || d.error || "";
    return h(
      "tr",
      {},
      h("td", { "data-label": t("hooks.when") }, dateTimeLabel(d.updated_at)),
      h("td", { "data-label": t("hooks.event") }, h("code", {}, d.type), h("div", { class: "muted small export-url" }, d.event_id)),
      h("td", { "data-label": t("keys.status") }, t(`hooks.status.${d.status}`), d.next_at ? h("div", { class: "muted small" }, t("hooks.next", { at: dateTimeLabel(d.next_at) })) : null),
      h("td", { "data-label": t("hooks.attempts") }, String(d.attempts)),
      h("td", { "data-label": t("hooks.answer") }, d.response_status ? String(d.response_status) : "—", d.latency_ms !== null ? h("div", { class: "muted small" }, t("hooks.latency", { ms: d.latency_ms })) : null),
      h("td", { "data-label": t("hooks.snippet") }, answer ? h("details", {}, h("summary", {}, t("hooks.show")), h("div", { class: "rating-comment export-url" }, bidi(answer))) : ""),
      h("td", { class: "row-actions" }, h("button", { type: "button", class: "btn small ghost", onclick: () => again({ event_id: d.event_id }) }, t("hooks.redeliver"))),
    );
  });
  const heads = [t("hooks.when"), t("hooks.event"), t("keys.status"), t("hooks.attempts"), t("hooks.answer"), t("hooks.snippet"), ""];
  const since = h("input", { id: "hook-since", type: "datetime-local", required: true });
  const range = h(
    "form",
    { class: "grid-form" },
    h("label", { for: "hook-since" }, t("hooks.since")),
    since,
    h("button", { type: "submit", class: "btn small" }, t("hooks.redeliverRange")),
  );
  range.addEventListener("submit", (event) => {
    event.preventDefault();
    if (since.value) again({ since: new Date(since.value).toISOString() });
  });
  clear(
    detail,
    h("h3", {}, t("hooks.logOf", { url: bidiText(w.url) }), " ", h("button", { type: "button", class: "btn small ghost", onclick: refresh }, t("hooks.refresh"))),
    log.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "table" }, h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)))
      : h("p", { class: "muted" }, t("hooks.noDeliveries")),
    range,
  );
}

function newHookForm(ctx, panel, again) {
  const space = h("select", { id: "new-hook-space" }, ctx.state.session.spaces.map((s) => h("option", { value: s.key }, bidiText(s.key))));
  const url = h("input", { id: "new-hook-url", type: "url", required: true, maxlength: "2048", placeholder: "https://" });
  const events = eventChecks("new-hook", ["message.created", "conversation.created"]);
  const minimal = h("input", { id: "new-hook-minimal", type: "checkbox" });
  const form = h(
    "form",
    { class: "grid-form" },
    h("h3", {}, t("hooks.new")),
    h("label", { for: "new-hook-space" }, t("keys.space")),
    space,
    h("label", { for: "new-hook-url" }, t("hooks.url")),
    url,
    h("fieldset", {}, h("legend", {}, t("hooks.events")), events),
    h("fieldset", {}, h("legend", {}, t("hooks.mode")), h("label", { class: "check" }, minimal, t("hooks.minimalLabel"))),
    h("button", { type: "submit", class: "btn primary" }, t("hooks.create")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = checked(events);
    if (!chosen.length) {
      events[0].firstChild.focus();
      ctx.toast(t("hooks.pickEvent"));
      return;
    }
    try {
      const made = await post("/api/webhooks", { space: space.value, url: url.value, events: chosen, minimal: minimal.checked });
      await webhooksPanel(ctx, panel, again, made);
    } catch (err) {
      ctx.handleError(err);
    }
  });
  return form;
}
