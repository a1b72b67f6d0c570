// The Privacy page's visitor requests panel (#privacy/requests): a visitor's erasure (GDPR
// art. 17), by its id (POST /api/visitors/{id}/erase) or by what the site knows it by, its
// external id, email or phone (POST /api/erasures), after the identifier is typed a second
// time; the answer says what was deleted, table by table, and what a legal hold kept. And the
// access export (art. 15): GET /api/visitors/{id}/export?format=json|zip, saved as the server
// names it (a refusal is said on the page).

import { ApiError, post } from "./api.js";
import { announce, bidi, clear, h } from "./dom.js";
import { t, tNodes } from "./i18n.js";
import { chooseSpace, confirmDialog, count, countsTable, currentSpace, heldList, spaceField } from "./privacy-common.js";

const BY = ["visitor", "external_id", "email", "phone"];

/** The answer of an erasure, in words: how many visitors, the rows deleted, what was kept. */
export function erasureResult(result, { id = "erase-result" } = {}) {
  const total = Object.values(result.counts || {}).reduce((a, b) => a + b, 0);
  const kept = result.held || [];
  const title =
    result.visitors === 0
      ? t("privacy.erase.noneFound")
      : kept.length && !total
        ? t("privacy.erase.allKept", { n: result.visitors })
        : t("privacy.erase.done", { n: result.visitors });
  return h(
    "div",
    { class: `erase-result ${result.visitors === 0 ? "none" : kept.length ? "partly" : "done"}`, id, dataset: { visitors: String(result.visitors) } },
    h("h3", {}, title),
    !result.visitors
      ? h("p", { class: "muted" }, t("privacy.erase.noneHint"))
      : total
        ? [
            h("p", {}, tNodes("privacy.erase.deleted", { n: h("strong", {}, count(total)), space: bidi(result.space) })),
            countsTable(result.counts || {}, { id: `${id}-counts`, caption: t("privacy.erase.countsCaption"), erasure: true }),
            h("p", { class: "muted small" }, t("privacy.erase.anonymous")),
          ]
        : h("p", {}, t("privacy.erase.nothing")),
    kept.length ? h("div", { class: "erase-held" }, h("h4", {}, t("privacy.erase.keptTitle")), heldList(kept, { kept: true }), h("p", { class: "muted small" }, t("privacy.erase.keptHint"))) : null,
  );
}

/** The two links of a visitor's access export: JSON and zip (downloaded by the browser). */
export function exportHref(visitorId, format) {
  return `/api/visitors/${encodeURIComponent(visitorId)}/export?format=${format}`;
}

/** A visitor's export, fetched and saved from a Blob (an error stays on the page, not in a
 * file): the file's name. */
async function saveExport(visitorId, format) {
  const response = await fetch(exportHref(visitorId, format), { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data?.error?.code || `http_${response.status}`, data?.error?.message || "");
  }
  const blob = await response.blob();
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || `visitor.${format}`;
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return name;
}

export function requestsPanel(ctx) {
  // -- erasure ---------------------------------------------------------------------------------
  const by = h(
    "select",
    { id: "erase-by" },
    BY.map((b) => h("option", { value: b }, t(`privacy.by.${b}`))),
  );
  const value = h("input", { id: "erase-value", type: "text", autocomplete: "off", spellcheck: "false", maxlength: "320" });
  const picker = spaceField("erase-space", currentSpace(), { onChange: chooseSpace });
  const reason = h("textarea", { id: "erase-reason", rows: "2", maxlength: "2000", placeholder: t("privacy.erase.reasonPlaceholder") });
  const error = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const submit = h("button", { type: "submit", class: "btn danger-solid", id: "erase-submit" }, t("privacy.erase.submit"));
  const result = h("div", { class: "erase-answer" });
  const valueLabel = h("label", { for: "erase-value" });
  const spaceBox = h("div", { class: "erase-space" }, picker.field);
  const showBy = () => {
    valueLabel.textContent = t(`privacy.by.${by.value}`);
    value.type = by.value === "email" ? "email" : by.value === "phone" ? "tel" : "text";
    spaceBox.hidden = by.value === "visitor"; // a visitor's id names its space
  };
  by.addEventListener("change", showBy);
  showBy();
  const form = h(
    "form",
    { class: "erase-form", novalidate: true, "aria-labelledby": "erase-title" },
    h(
      "div",
      { class: "erase-grid" },
      h("div", { class: "field" }, h("label", { for: "erase-by" }, t("privacy.erase.by")), by),
      h("div", { class: "field erase-value" }, valueLabel, value),
      spaceBox,
    ),
    h("div", { class: "field" }, h("label", { for: "erase-reason" }, t("privacy.reasonOptional")), reason, h("p", { class: "field-hint" }, t("privacy.erase.reasonHint"))),
    error,
    h("div", { class: "form-buttons" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    value.removeAttribute("aria-invalid");
    const what = value.value.trim();
    if (!what) {
      value.setAttribute("aria-invalid", "true");
      error.textContent = t("privacy.erase.needValue", { by: t(`privacy.by.${by.value}`) });
      value.focus();
      return;
    }
    const kind = by.value;
    const space = picker.value();
    const ok = await confirmDialog({
      id: "erase-confirm",
      title: t("privacy.erase.confirmTitle"),
      body: [
        h("p", {}, kind === "visitor" ? tNodes("privacy.erase.confirmVisitor", { id: h("code", {}, bidi(what)) }) : tNodes("privacy.erase.confirmBy", { by: t(`privacy.by.${kind}`), value: h("code", {}, bidi(what)), space: bidi(space) })),
        h("p", {}, t("privacy.erase.confirmText")),
        h("p", { class: "muted small" }, t("privacy.erase.confirmHeld")),
      ],
      confirm: t("privacy.erase.confirm"),
      match: { label: t("privacy.erase.typeAgain", { by: t(`privacy.by.${kind}`) }), value: what },
    });
    if (!ok || !ctx.alive()) return;
    submit.disabled = true;
    clear(result, h("p", { class: "muted" }, t("privacy.erase.busy")));
    try {
      const body = { reason: reason.value.trim() || null };
      const answer =
        kind === "visitor"
          ? await post(`/api/visitors/${encodeURIComponent(what)}/erase`, body)
          : await post("/api/erasures", { space, [kind]: what, ...body });
      if (!ctx.alive()) return;
      value.value = "";
      reason.value = "";
      clear(result, erasureResult(answer));
      announce(answer.visitors ? t("privacy.erase.done", { n: answer.visitors }) : t("privacy.erase.noneFound"));
    } catch (err) {
      if (!ctx.alive()) return;
      clear(result);
      if (err instanceof ApiError && [400, 404, 422].includes(err.status)) {
        error.textContent = err.status === 404 && kind === "visitor" ? t("privacy.erase.noVisitor") : err.message || t("error.generic");
        error.focus();
      } else {
        ctx.handleError(err);
      }
    } finally {
      submit.disabled = false;
    }
  });

  // -- access export ---------------------------------------------------------------------------
  const exportId = h("input", { id: "export-visitor", type: "text", autocomplete: "off", spellcheck: "false", maxlength: "36" });
  const exportError = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const exportStatus = h("p", { class: "muted small export-status", role: "status" });
  const download = async (format, button) => {
    exportError.textContent = exportStatus.textContent = "";
    const id = exportId.value.trim();
    if (!id) {
      exportId.setAttribute("aria-invalid", "true");
      exportError.textContent = t("privacy.export.needId");
      exportId.focus();
      return;
    }
    exportId.removeAttribute("aria-invalid");
    button.disabled = true;
    try {
      const name = await saveExport(id, format);
      if (ctx.alive()) exportStatus.textContent = t("privacy.export.done", { name });
    } catch (err) {
      if (!ctx.alive()) return;
      if (err instanceof ApiError && err.status === 404) {
        exportError.textContent = t("privacy.erase.noVisitor");
        exportError.focus();
      } else {
        ctx.handleError(err);
      }
    } finally {
      button.disabled = false;
    }
  };
  const buttons = ["json", "zip"].map((format) => {
    const button = h("button", { type: "button", class: "btn", dataset: { format } }, t(`privacy.export.${format}`));
    button.addEventListener("click", () => download(format, button));
    return button;
  });
  const exportBox = h(
    "div",
    { class: "export-box" },
    h("div", { class: "field" }, h("label", { for: "export-visitor" }, t("privacy.by.visitor")), exportId, h("p", { class: "field-hint" }, t("privacy.export.hint"))),
    exportError,
    h("div", { class: "form-buttons" }, buttons),
    exportStatus,
  );

  return h(
    "section",
    { class: "privacy-panel requests-panel", "aria-labelledby": "requests-title" },
    h("h2", { id: "requests-title", class: "panel-title" }, t("privacy.tab.requests")),
    h("p", { class: "panel-lead" }, t("privacy.requests.lead")),
    h(
      "div",
      { class: "requests-grid" },
      h(
        "div",
        { class: "privacy-card" },
        h("h3", { id: "erase-title" }, t("privacy.erase.title")),
        h("p", { class: "muted" }, t("privacy.erase.lead")),
        form,
        result,
      ),
      h("div", { class: "privacy-card" }, h("h3", { id: "export-title" }, t("privacy.export.title")), h("p", { class: "muted" }, t("privacy.export.lead")), exportBox),
    ),
  );
}
