// Admin: API keys of my spaces, for servers calling the REST API (docs/integrations.md). The
// list never holds a secret; a new key is shown once, with a copy button, until the panel is
// left. Revoking asks once more, inline. Names and spaces are bidi-isolated.

import { del, get, post } from "./api.js";
import { bidi, bidiText, clear, h } from "./dom.js";
import { dateTimeLabel, t } from "./i18n.js";

// agents/scopes.py, in its order (tests/agents/test_api_keys.py checks that both agree)
export const SCOPES = [
  "conversations:read",
  "messages:write",
  "visitors:erase",
  "exports:read",
  "campaigns:write",
  "webhooks:manage",
  "audit:read",
  "metrics:read",
];

/** The panel: `again()` shows it afresh; `fresh` is a key just made ({name, key}). */
export async function keysPanel(ctx, panel, again, fresh = null) {
  const { keys } = await get("/api/keys");
  const help = h("p", { class: "muted small" }, t("keys.help"));
  clear(panel, help, fresh ? shownOnce(ctx, fresh) : null, keysTable(ctx, keys, again), newKeyForm(ctx, panel, again));
}

function shownOnce(ctx, made) {
  const value = h("input", { id: "new-key-value", class: "export-url", size: "52", readonly: true, value: made.key, "aria-describedby": "new-key-once", spellcheck: "false" });
  const copy = h("button", { type: "button", class: "btn small primary" }, t("keys.copy"));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(made.key);
      ctx.toast(t("keys.copied"));
    } catch {
      value.select(); // no clipboard (an insecure origin): selected, for the keyboard
    }
  });
  const box = h(
    "section",
    { class: "card key-once", role: "status" },
    h("h3", {}, bidi(made.name)),
    h("p", { id: "new-key-once", class: "notice" }, t("keys.once")),
    h("div", { class: "inline-form" }, h("label", { for: "new-key-value", class: "visually-hidden" }, t("keys.key")), value, copy),
  );
  queueMicrotask(() => value.select());
  return box;
}

function keysTable(ctx, keys, again) {
  if (!keys.length) return h("p", { class: "muted" }, t("keys.none"));
  const rows = keys.map((k) => {
    const actions = h("td", { class: "row-actions" });
    if (k.status === "active") {
      const revoke = h("button", { type: "button", class: "btn small danger" }, t("keys.revoke"));
      revoke.addEventListener("click", () => {
        const sure = h("button", { type: "button", class: "btn small danger" }, t("keys.confirmRevoke", { name: bidiText(k.name) }));
        const keep = h("button", { type: "button", class: "btn small ghost" }, t("common.cancel"));
        sure.addEventListener("click", async () => {
          try {
            await del(`/api/keys/${encodeURIComponent(k.id)}`);
            ctx.toast(t("keys.revoked"));
            again();
          } catch (err) {
            ctx.handleError(err);
          }
        });
        keep.addEventListener("click", () => again());
        clear(actions, sure, keep);
        sure.focus();
      });
      actions.append(revoke);
    }
    const used = k.last_used_at ? `${dateTimeLabel(k.last_used_at)} · ${k.last_used_ip || ""}` : t("keys.never");
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, bidi(k.name), h("div", { class: "muted small" }, bidi(k.created_by || ""))),
      h("td", { "data-label": t("keys.space") }, bidi(k.space)),
      h("td", { "data-label": t("keys.scopes") }, k.scopes.map((s) => h("span", { class: "chip small", title: t(`scope.${s}`) }, s))),
      h("td", { "data-label": t("keys.status") }, t(`keys.status.${k.status}`)),
      h("td", { "data-label": t("keys.expires") }, dateTimeLabel(k.expires_at)),
      h("td", { "data-label": t("keys.lastUsed") }, used),
      actions,
    );
  });
  const heads = [t("keys.name"), t("keys.space"), t("keys.scopes"), t("keys.status"), t("keys.expires"), t("keys.lastUsed"), ""];
  return h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows),
  );
}

function newKeyForm(ctx, panel, again) {
  const name = h("input", { id: "new-key-name", required: true, maxlength: "100" });
  const space = h("select", { id: "new-key-space" }, ctx.state.session.spaces.map((s) => h("option", { value: s.key }, bidiText(s.key))));
  const scopes = SCOPES.map((s) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: s }), h("code", {}, s), " ", h("span", { class: "muted small" }, t(`scope.${s}`))),
  );
  const days = h("input", { id: "new-key-days", type: "number", min: "1", max: "365", value: "90", required: true, class: "narrow" });
  const form = h(
    "form",
    { class: "grid-form" },
    h("h3", {}, t("keys.new")),
    h("label", { for: "new-key-name" }, t("keys.name")),
    name,
    h("label", { for: "new-key-space" }, t("keys.space")),
    space,
    h("fieldset", {}, h("legend", {}, t("keys.scopes")), scopes),
    h("label", { for: "new-key-days" }, t("keys.days")),
    days,
    h("button", { type: "submit", class: "btn primary" }, t("keys.create")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = scopes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value);
    if (!chosen.length) {
      scopes[0].firstChild.focus();
      ctx.toast(t("keys.pickScope"));
      return;
    }
    try {
      const made = await post("/api/keys", { name: name.value, space: space.value, scopes: chosen, expires_days: Number(days.value) });
      await keysPanel(ctx, panel, again, made);
    } catch (err) {
      ctx.handleError(err);
    }
  });
  return form;
}
