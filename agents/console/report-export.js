// The export tab of the Reports page (admin and marketing agents): a table of the space
// (messages, conversations, campaign exposures, goal events) as CSV, JSON Lines or Parquet,
// redacted (mask by default, hash or drop), over the days of the report or everything, as a
// link to GET /api/exports/{table}: the browser streams it to a file. Raw text is for admins
// only, and says what it holds.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { addDays, dayLabel, startOfDay } from "./report-figures.js";

const TABLES = ["conversations", "messages", "exposures", "goal_events"];
const FORMATS = ["csv", "jsonl", "parquet"];
const MODES = ["mask", "hash", "drop"];

/** The export form for a space and the report's days (in the space's time zone). */
export function exportPanel({ space, from, to, zone, admin }) {
  const select = (id, values, prefix) =>
    h(
      "select",
      { id },
      values.map((v) => h("option", { value: v }, t(`${prefix}.${v}`))),
    );
  const table = select("export-table", TABLES, "export.table");
  const format = select("export-format", FORMATS, "export.format");
  const tableHint = h("p", { class: "field-hint", id: "export-table-hint" });
  table.setAttribute("aria-describedby", "export-table-hint");
  const radio = (name, value, label, hint, checked) => {
    const id = `export-${name}-${value}`;
    return h(
      "div",
      { class: "choice" },
      h("input", { type: "radio", name: `export-${name}`, id, value, checked, "aria-describedby": hint ? `${id}-hint` : null }),
      h("label", { for: id }, label),
      hint ? h("span", { class: "field-hint", id: `${id}-hint` }, hint) : null,
    );
  };
  const days = from && to ? `${dayLabel(from)} – ${dayLabel(to)}` : "";
  const period = h(
    "fieldset",
    { class: "choices" },
    h("legend", {}, t("export.period")),
    days ? radio("period", "days", t("export.period.days", { days }), t("export.period.zone", { zone }), true) : null,
    radio("period", "all", t("export.period.all"), null, !days),
  );
  const modes = h(
    "fieldset",
    { class: "choices", id: "export-redaction" },
    h("legend", {}, t("export.redaction")),
    MODES.map((m) => radio("redact", m, t(`export.redact.${m}`), t(`export.redact.${m}.hint`), m === "mask")),
  );
  const raw = admin ? h("input", { type: "checkbox", id: "export-raw" }) : null;
  const rawWarning = h("p", { class: "raw-warning", id: "export-raw-warning" }, t("export.rawWarning"));
  const rawBox = admin
    ? h(
        "div",
        { class: "raw-box" },
        h("div", { class: "choice" }, raw, h("label", { for: "export-raw" }, t("export.raw"))),
        rawWarning,
      )
    : null;
  raw?.setAttribute("aria-describedby", "export-raw-warning");
  const link = h("a", { class: "btn primary", id: "export-download", download: "" });
  const api = h("code", { class: "export-url" });

  const checked = (name) => panel.querySelector(`input[name="export-${name}"]:checked`)?.value;
  const update = () => {
    tableHint.textContent = t(`export.table.${table.value}.hint`);
    const params = new URLSearchParams({ space, format: format.value });
    if (raw?.checked) params.set("raw", "true");
    else params.set("redact", checked("redact") || "mask");
    if (checked("period") === "days" && from && to) {
      params.set("since", startOfDay(from, zone));
      params.set("until", startOfDay(addDays(to, 1), zone));
    }
    const path = `/api/exports/${encodeURIComponent(table.value)}?${params}`;
    link.href = path;
    link.textContent = t("export.download", { file: `${table.value}.${format.value}` });
    api.textContent = `GET ${decodeURIComponent(path)}`;
    for (const input of modes.querySelectorAll("input")) input.disabled = Boolean(raw?.checked);
    rawWarning.classList.toggle("on", Boolean(raw?.checked));
  };
  const panel = h(
    "section",
    { class: "export-panel", "aria-labelledby": "export-title" },
    h("h2", { id: "export-title" }, t("export.title")),
    h("p", { class: "report-lead" }, t("export.lead")),
    h(
      "form",
      { class: "export-form" },
      h(
        "div",
        { class: "export-grid" },
        h("div", { class: "field" }, h("label", { for: "export-table" }, t("export.tableLabel")), table, tableHint),
        h("div", { class: "field" }, h("label", { for: "export-format" }, t("export.formatLabel")), format),
      ),
      period,
      modes,
      rawBox,
      h("div", { class: "export-actions" }, link),
      h("p", { class: "muted small" }, t("export.api"), " ", api),
    ),
  );
  panel.addEventListener("change", update);
  panel.querySelector("form").addEventListener("submit", (event) => event.preventDefault());
  update();
  return panel;
}
