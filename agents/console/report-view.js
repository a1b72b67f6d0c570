// One view of the Reports page, drawn from a report's answer and the view's controls ({tab,
// group, by}): the key figures with their definitions, the table of every row, the terms the
// report counts, and its chart (the periods of the range, a series per breakdown key, the
// largest first, and a text alternative that reads out the figures).

import { bidi, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { barChart } from "./report-chart.js";
import { REPORTS, addDays, count, dayLabel, duration, figure, kindOf, periodLabel, share, withinHours } from "./report-figures.js";

const MAX_SERIES = 8;

/** The key figures of the range, each with its definition beside it. */
export function strip(o) {
  const tile = (name, label, value, sub) =>
    h(
      "div",
      { class: "kpi", dataset: { figure: name } },
      h("dt", {}, label),
      h("dd", { class: "kpi-value" }, h("strong", {}, value), sub ? h("span", { class: "kpi-sub" }, sub) : null),
      h(
        "dd",
        { class: "kpi-def" },
        h("p", { class: "short-def" }, t(`reports.short.${name}`)),
        h(
          "details",
          { class: "more-def" },
          h("summary", {}, h("span", { "aria-hidden": "true" }, "?"), h("span", { class: "visually-hidden" }, t("reports.fullDefinition", { figure: label }))),
          h("p", {}, t(`reports.def.${name}`)),
        ),
      ),
    );
  return h(
    "section",
    { class: "key-figures", "aria-labelledby": "key-figures-title" },
    h("h2", { id: "key-figures-title", class: "visually-hidden" }, t("reports.keyFigures")),
    h(
      "dl",
      { class: "kpis" },
      tile("conversation", t("reports.kpi.conversations"), count(o.conversations), t("reports.kpi.resolved", { n: count(o.resolved) })),
      tile(
        "first_response",
        t("reports.kpi.firstResponse"),
        duration(o.first_response_median_s),
        t("reports.kpi.businessHours", { value: duration(o.first_response_median_s_bh) }),
      ),
      tile("resolution", t("reports.kpi.resolution"), duration(o.resolution_median_s), t("reports.kpi.reopened", { n: count(o.reopened) })),
      tile("missed", t("reports.kpi.missedRate"), share(o.missed_rate), t("reports.kpi.missed", { n: count(o.missed) })),
      tile("csat_score", t("reports.kpi.csat"), share(o.csat_score, 0), null),
      tile("response_rate", t("reports.kpi.responseRate"), share(o.csat_response_rate), null),
    ),
  );
}

/** What the report counts, term by term (docs/reports.md). */
export function terms(names, by) {
  const all = [...names, ...(by ? [`by_${by}`] : [])];
  return h(
    "aside",
    { class: "report-terms", "aria-labelledby": "report-terms-title" },
    h("h3", { id: "report-terms-title" }, t("reports.terms")),
    h("dl", {}, all.map((name) => h("div", {}, h("dt", {}, t(`reports.term.${name}`)), h("dd", { dataset: { term: name } }, t(`reports.def.${name}`))))),
  );
}

function keyLabel(row, by) {
  if (row.key === null || row.key === undefined) return t(`reports.none.${by}`);
  return row.label ?? row.key;
}

const headOf = (column) => t(`reports.col.${column}`);

export function table(report, s) {
  const columns = REPORTS[s.tab].columns;
  const grouped = s.group !== "range";
  const first = [];
  if (grouped) first.push(t(`reports.period.${s.group}`));
  if (s.by) first.push(t(`reports.by.${s.by}`));
  if (!first.length) first.push(t("reports.period.range"));
  const head = [...first, ...columns.map(headOf)];
  const cells = (row) =>
    columns.map((column, i) =>
      h(
        "td",
        { class: "num", dataset: { col: column, value: row[column] ?? "" }, "data-label": head[first.length + i] },
        figure(column, row[column]),
      ),
    );
  const rowHeads = (row) => {
    const out = [];
    if (grouped) out.push(h("th", { scope: "row", class: "period", "data-label": head[0] }, periodLabel(row.period, s.group)));
    if (s.by) out.push(h(grouped ? "td" : "th", { class: "key", scope: grouped ? null : "row", "data-label": head[out.length] }, bidi(keyLabel(row, s.by))));
    if (!out.length) out.push(h("th", { scope: "row", class: "period" }, `${dayLabel(report.from)} – ${dayLabel(report.to)}`));
    return out;
  };
  const rows = report.rows;
  if (!rows.length) {
    return h("p", { class: "empty-panel report-empty" }, t("reports.empty"));
  }
  return h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "report-title" },
    h(
      "table",
      { class: "table figures-table", id: "report-table" },
      h("caption", { class: "visually-hidden" }, `${t(`reports.tab.${s.tab}`)}, ${dayLabel(report.from)} – ${dayLabel(report.to)}`),
      h("thead", {}, h("tr", {}, head.map((c, i) => h("th", { scope: "col", class: i < first.length ? null : "num" }, c)))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", { dataset: { period: row.period ?? "", key: row.key ?? "" } }, rowHeads(row), cells(row))),
      ),
      rows.length > 1
        ? h(
            "tfoot",
            {},
            h("tr", {}, h("th", { scope: "row", colspan: String(first.length), "data-label": "" }, t("reports.total")), cells(report.total)),
          )
        : null,
    ),
  );
}

// -- the chart -------------------------------------------------------------------------------

/** The periods of the range, every one (a day, or a week from its Monday), rows or not. */
function periods(from, to, group) {
  const out = [];
  let day = from;
  if (group === "week") {
    const weekday = (new Date(`${from}T12:00:00Z`).getUTCDay() + 6) % 7; // Monday 0
    day = addDays(from, -weekday);
  }
  const step = group === "week" ? 7 : 1;
  for (let i = 0; day <= to && i < 400; i += 1, day = addDays(day, step)) out.push(day);
  return out;
}

export function drawChart(box, report, s, hours) {
  const spec = REPORTS[s.tab].chart;
  const business = spec.hours && hours === "business";
  const bar = business ? withinHours(spec.bar) : spec.bar;
  const mark = spec.mark ? (business ? withinHours(spec.mark) : spec.mark) : null;
  const kind = kindOf(bar) === "share" ? "share" : kindOf(bar) === "duration" ? "duration" : "count";
  const rows = report.rows;
  if (!rows.length || (s.group === "range" && !s.by)) {
    clear(box);
    return;
  }
  // the series: one, or the breakdown's keys, the largest first (at most MAX_SERIES)
  let keys = [null];
  let left = 0;
  if (s.by) {
    const size = new Map();
    for (const r of rows) size.set(r.key, (size.get(r.key) || 0) + (r[spec.size] || 0));
    keys = [...size.keys()].sort((a, b) => size.get(b) - size.get(a) || String(a ?? "").localeCompare(String(b ?? "")));
    left = Math.max(0, keys.length - MAX_SERIES);
    keys = keys.slice(0, MAX_SERIES);
  }
  const labelOf = (key) => (s.by ? keyLabel({ key, label: rows.find((r) => r.key === key)?.label }, s.by) : "");
  const byCell = new Map(rows.map((r) => [`${r.period ?? ""}|${r.key ?? ""}`, r]));
  const zeroIfNone = kind === "count"; // no conversation that day: 0, where a duration has none
  const markName = mark ? t(`reports.col.${mark}`) : "";
  const barName = t(`reports.col.${bar}`);
  const points = [];
  const point = (period, key, i, slot) => {
    const row = byCell.get(`${period ?? ""}|${key ?? ""}`);
    const value = row ? row[bar] : zeroIfNone ? 0 : null;
    const markValue = row && mark ? row[mark] : null;
    const where = [period ? periodLabel(period, s.group) : "", s.by ? labelOf(key) : ""].filter(Boolean).join(", ");
    const said = value === null || value === undefined ? t("reports.chart.none") : `${barName} ${figure(bar, value)}`;
    const tip = `${where}: ${said}${markValue !== null && markValue !== undefined ? `, ${markName} ${figure(mark, markValue)}` : ""}`;
    if (row || zeroIfNone) points.push({ tip, value });
    return { slot, series: i, value, mark: markValue, tip, dataset: { period: period ?? "", key: key ?? "" } };
  };
  const groups =
    s.group === "range"
      ? keys.map((key, i) => ({ label: labelOf(key), bars: [point(null, key, i, 0)] }))
      : periods(report.from, report.to, s.group).map((period) => ({
          label: periodLabel(period, s.group, "short"),
          bars: keys.map((key, i) => point(period, key, i, i)),
        }));
  const title = [
    t(`reports.chart.${s.tab}`),
    business ? t("reports.chart.businessHours") : "",
    t(`reports.chart.per.${s.group}`),
    s.by ? t(`reports.chart.by.${s.by}`) : "",
  ]
    .filter(Boolean)
    .join(", ");
  const valued = points.filter((p) => typeof p.value === "number");
  let summary;
  if (points.length <= 24) {
    summary = `${points.map((p) => p.tip).join("; ")}.`;
  } else {
    const high = valued.reduce((a, b) => (b.value > a.value ? b : a), valued[0]);
    const low = valued.reduce((a, b) => (b.value < a.value ? b : a), valued[0]);
    summary = high ? t("reports.chart.range", { high: high.tip, low: low.tip }) : t("reports.chart.none");
  }
  summary += ` ${t("reports.chart.inTable")}`;
  const width = box.clientWidth - 30; // the figure's padding and border
  const svg = barChart({ title, summary, groups, slots: s.group === "range" ? 1 : keys.length, kind, width });
  const legend = [];
  if (s.by) {
    keys.forEach((key, i) =>
      legend.push(h("li", {}, h("span", { class: `swatch s-${i % 8}`, "aria-hidden": "true" }), bidi(labelOf(key)))),
    );
  } else {
    legend.push(h("li", {}, h("span", { class: "swatch s-0", "aria-hidden": "true" }), barName));
  }
  if (mark) legend.push(h("li", {}, h("span", { class: "swatch mark-swatch", "aria-hidden": "true" }), markName));
  clear(
    box,
    h(
      "figure",
      { class: "report-figure" },
      h("figcaption", {}, title),
      svg,
      h("ul", { class: "chart-legend", "aria-label": t("reports.chart.legend") }, legend),
      left ? h("p", { class: "muted small" }, t("reports.chart.more", { shown: keys.length, n: keys.length + left })) : null,
    ),
  );
}
