// Two admin actions in a conversation's details pane: download everything held about the
// visitor (GET /api/visitors/{id}/export), and erase the visitor (POST .../erase), after a
// confirmation with a reason; the answer (what was deleted, what a hold kept) is shown in a
// dialog. Other roles see nothing of it (the server refuses them anyway).

import { ApiError, post } from "./api.js";
import { bidi, h } from "./dom.js";
import { t } from "./i18n.js";
import { me } from "./state.js";
import { confirmDialog } from "./privacy-common.js";
import { erasureResult, exportHref } from "./privacy-requests.js";

/** The card, or null for anyone but an admin. `erased()` runs once the visitor is erased. */
export function visitorPrivacyCard(visitor, name, { handleError, erased }) {
  if (me()?.role !== "admin" || !visitor?.id) return null;
  const erase = h("button", { type: "button", class: "btn small danger", id: "visitor-erase" }, t("privacy.visitor.erase"));
  erase.addEventListener("click", async () => {
    const ok = await confirmDialog({
      id: "visitor-erase-confirm",
      title: t("privacy.visitor.eraseTitle"),
      body: [h("p", {}, h("strong", {}, bidi(name))), h("p", {}, t("privacy.erase.confirmText")), h("p", { class: "muted small" }, t("privacy.erase.confirmHeld"))],
      confirm: t("privacy.erase.confirm"),
      reason: { label: t("privacy.reasonOptional"), hint: t("privacy.erase.reasonHint"), required: false },
    });
    if (!ok) return;
    erase.disabled = true;
    try {
      const result = await post(`/api/visitors/${encodeURIComponent(visitor.id)}/erase`, { reason: ok.reason || null });
      showResult(result);
      erased?.();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) handleError(new Error(t("privacy.erase.noVisitor")));
      else handleError(err);
    } finally {
      erase.disabled = false;
    }
  });
  return h(
    "section",
    { class: "card privacy-actions", "aria-labelledby": "visitor-privacy-title" },
    h("h3", { id: "visitor-privacy-title" }, t("privacy.visitor.title")),
    h("p", { class: "muted small visitor-id" }, t("privacy.visitor.id"), " ", h("code", {}, visitor.id)),
    h(
      "div",
      { class: "row-actions" },
      h("a", { class: "btn small", id: "visitor-export", href: exportHref(visitor.id, "json"), download: "" }, t("privacy.visitor.export")),
      erase,
    ),
  );
}

function showResult(result) {
  const dialog = h("dialog", { class: "dialog privacy-dialog", "aria-labelledby": "erase-result-title" });
  const close = h("button", { type: "button", class: "btn primary", onclick: () => dialog.close() }, t("privacy.visitor.close"));
  const body = erasureResult(result, { id: "visitor-erase-result" });
  body.querySelector("h3")?.setAttribute("id", "erase-result-title");
  dialog.append(body, h("div", { class: "dialog-actions" }, close));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
