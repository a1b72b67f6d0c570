// The Reports page: #reports/REPORT?space=KEY&from=DAY&to=DAY&group=day|week|range&by=KEY,
// one tab per report of GET /api/reports/{report} (overview, first response, resolution,
// volume, CSAT, missed), the satisfaction view per agent and team (#satisfaction) and, for
// admin and marketing agents, the export (#reports/export). Every control is in the address:
// a link opens the same view, Back goes back to the previous one.
//
// A view: the key figures of the range (each with its definition beside it, and the whole
// definition behind a "?"), the report's chart, its table and the definitions of what it
// counts (report-view.js), and its CSV. A relation agent's figures are of its own conversations
// (the server's `scope: "mine"`), and the page says so.

import { ApiError, get } from "./api.js";
import { announce, bidiText, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { menuButton } from "./panes.js";
import { me, state } from "./state.js";
import { exportPanel } from "./report-export.js";
import { BREAKDOWNS, REPORTS, REPORT_NAMES, addDays, dayLabel, duration, isDay, today } from "./report-figures.js";
import { drawChart, strip, table, terms } from "./report-view.js";

const GROUPS = ["day", "week", "range"]; // range: the whole range at once (no group sent)
const PRESETS = [7, 30, 90];

let root = null;
let ctx = null;
let token = 0; // the view being drawn; an answer for an older one is dropped
let page = null; // the page's standing parts, once drawn
let current = null; // {tab, space, from, to, group, by}: what the address says
let hours = "all"; // the durations the chart draws: "all" hours or "business" hours
let resized = null; // the chart's ResizeObserver: drawn again at the width it has
const zones = new Map(); // space key -> its time zone, as the server last said

export function canExport() {
  return ["admin", "marketing"].includes(me()?.role);
}

export function mountReports(el, context) {
  root = el;
  ctx = context;
}

/** Leave the page: its answers on the way are dropped, and nothing of it stays in the DOM. */
export function hideReports() {
  token += 1;
  resized?.disconnect();
  page = null;
  if (root) clear(root);
}

/** The address of a tab, with the range and the breakdown of `view`. */
export function reportsHash(tab, view = current) {
  const params = new URLSearchParams();
  if (view?.space) params.set("space", view.space);
  if (view?.from) params.set("from", view.from);
  if (view?.to) params.set("to", view.to);
  if (view?.group) params.set("group", view.group);
  if (view?.by) params.set("by", view.by);
  const query = params.toString();
  return `#reports/${tab}${query ? `?${query}` : ""}`;
}

/** The tabs of the Reports page, `active` marked: the reports, CSAT per agent, the export. */
export function reportTabs(active) {
  const link = (name, href, label) =>
    h("a", { href, class: "tab", dataset: { tab: name }, "aria-current": name === active ? "page" : null }, label);
  return h(
    "nav",
    { class: "tabs report-tabs", "aria-label": t("reports.tabs") },
    REPORT_NAMES.map((name) => link(name, reportsHash(name), t(`reports.tab.${name}`))),
    link("satisfaction", "#satisfaction", t("reports.tab.satisfaction")),
    canExport() ? link("export", reportsHash("export"), t("reports.tab.export")) : null,
  );
}

function parse(tab, query) {
  const spaces = state.session.spaces;
  const known = (key) => spaces.some((s) => s.key === key);
  const q = new URLSearchParams(query || "");
  if (![...q.keys()].length && current) return { ...current, tab, space: known(current.space) ? current.space : spaces[0]?.key || "" };
  const from = isDay(q.get("from")) ? q.get("from") : "";
  const to = isDay(q.get("to")) ? q.get("to") : "";
  return {
    tab,
    space: known(q.get("space")) ? q.get("space") : known(current?.space) ? current.space : spaces[0]?.key || "",
    from: from && to ? from : "",
    to: from && to ? to : "",
    group: GROUPS.includes(q.get("group")) ? q.get("group") : "day",
    by: BREAKDOWNS.includes(q.get("by")) ? q.get("by") : "",
  };
}

/** Show a route: [report] or ["export"], and the address's query. */
export function showReports(route, query) {
  const name = route[0];
  const tab = REPORT_NAMES.includes(name) ? name : name === "export" && canExport() ? "export" : "overview";
  const built = page !== null;
  current = parse(tab, query);
  if (!built) build();
  sync();
  if (!built) page.heading.focus({ preventScroll: true });
  load();
}

function navigate(changes) {
  const next = { ...current, ...changes };
  const hash = reportsHash(next.tab, next);
  if (location.hash === hash) {
    current = next;
    sync();
    load();
  } else {
    location.hash = hash; // app.js routes it back here
  }
}

// -- the standing parts: title, tabs, controls ------------------------------------------------

function build() {
  const spaces = state.session.spaces;
  const heading = h("h1", { class: "page-title", tabindex: "-1" }, t("reports.title"));
  const scope = h("span", { class: "chip scope-chip", hidden: true }, t("reports.scope.mine"));
  const field = (id, label, control, extra = "") => h("div", { class: `field ${extra}` }, h("label", { for: id }, label), control);
  const space =
    spaces.length > 1
      ? h(
          "select",
          { id: "report-space" },
          spaces.map((s) => h("option", { value: s.key }, bidiText(s.key))),
        )
      : null;
  const from = h("input", { id: "report-from", type: "date", required: true });
  const to = h("input", { id: "report-to", type: "date", required: true });
  const group = h(
    "select",
    { id: "report-group" },
    GROUPS.map((g) => h("option", { value: g }, t(`reports.group.${g}`))),
  );
  const by = h(
    "select",
    { id: "report-by" },
    h("option", { value: "" }, t("reports.by.none")),
    BREAKDOWNS.map((b) => h("option", { value: b }, t(`reports.by.${b}`))),
  );
  const submit = h("button", { type: "submit", class: "btn primary" }, t("reports.show"));
  const presets = h(
    "div",
    { class: "presets", role: "group", "aria-label": t("reports.presets") },
    PRESETS.map((n) =>
      h(
        "button",
        {
          type: "button",
          class: "btn small ghost",
          onclick: () => {
            const last = today(zones.get(current.space));
            navigate({ from: addDays(last, 1 - n), to: last });
          },
        },
        t("reports.lastDays", { n }),
      ),
    ),
  );
  const groupField = field("report-group", t("reports.groupLabel"), group);
  const byField = field("report-by", t("reports.byLabel"), by);
  const form = h(
    "form",
    { class: "report-form reports-form", "aria-describedby": "report-zone" },
    space ? field("report-space", t("campaigns.space"), space) : null,
    field("report-from", t("reports.from"), from, "date-field"),
    field("report-to", t("reports.to"), to, "date-field"),
    groupField,
    byField,
    h("div", { class: "field report-submit" }, submit),
  );
  const zone = h("p", { class: "muted small zone-note", id: "report-zone" });
  const error = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const scopeNote = h("p", { class: "scope-note", hidden: true }, t("reports.scope.note"));
  const body = h("div", { class: "reports-body" });
  const tabs = h("div", { class: "report-tabs-box" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate({ from: from.value, to: to.value });
  });
  space?.addEventListener("change", () => navigate({ space: space.value }));
  group.addEventListener("change", () => navigate({ group: group.value }));
  by.addEventListener("change", () => navigate({ by: by.value }));
  clear(
    root,
    h(
      "header",
      { class: "page-head" },
      h("div", { class: "page-crumbs" }, menuButton(), h("a", { href: "#", class: "narrow-only back" }, "← ", t("campaigns.toInbox"))),
      h("div", { class: "page-title-row" }, heading, scope),
    ),
    h("div", { class: "page-body" }, tabs, h("div", { class: "controls" }, form, h("div", { class: "controls-foot" }, presets, zone)), error, scopeNote, body),
  );
  page = { heading, scope, scopeNote, space, from, to, group, by, groupField, byField, zone, error, body, tabs, submit };
}

/** The controls and the tabs as the address says. */
function sync() {
  const s = current;
  if (page.space) page.space.value = s.space;
  page.from.value = s.from;
  page.to.value = s.to;
  page.group.value = s.group;
  page.by.value = s.by;
  const exporting = s.tab === "export";
  page.groupField.hidden = page.byField.hidden = exporting;
  // the tabs stay (a tab chosen keeps the focus): their addresses and the current one change
  if (!page.tabs.firstChild) page.tabs.append(reportTabs(s.tab));
  for (const link of page.tabs.querySelectorAll("a[data-tab]")) {
    const name = link.dataset.tab;
    if (name !== "satisfaction") link.href = reportsHash(name);
    if (name === s.tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const zone = zones.get(s.space);
  page.zone.textContent = zone ? t("reports.zone", { zone }) : "";
}

// -- loading ---------------------------------------------------------------------------------

function apiQuery(s, { group = true } = {}) {
  const params = new URLSearchParams({ space: s.space });
  if (s.from && s.to) {
    params.set("from", s.from);
    params.set("to", s.to);
  }
  if (group && s.group !== "range") params.set("group", s.group);
  if (group && s.by) params.set("by", s.by);
  return params;
}

async function load() {
  const my = ++token;
  const s = current;
  page.error.textContent = "";
  page.body.setAttribute("aria-busy", "true");
  if (!page.body.firstChild) clear(page.body, h("p", { class: "muted" }, t("common.loading")));
  try {
    let report;
    let totals;
    if (s.tab === "export") {
      report = await get(`/api/reports/missed?${apiQuery(s, { group: false })}`); // the days and the time zone
    } else {
      const one = s.tab === "overview" && s.group === "range" && !s.by;
      [report, totals] = await Promise.all([
        get(`/api/reports/${s.tab}?${apiQuery(s)}`),
        one || s.tab === "overview" ? null : get(`/api/reports/overview?${apiQuery(s, { group: false })}`),
      ]);
      totals = totals?.total || report.total;
    }
    if (my !== token) return;
    zones.set(s.space, report.time_zone);
    // the server's default range (the last 7 days in the space's time zone), the default
    // grouping: the address says them all, so that a link to it opens this very view
    if (!s.from || !s.to) current = { ...s, from: report.from, to: report.to };
    const canonical = reportsHash(current.tab, current);
    if (location.hash !== canonical) history.replaceState(history.state, "", canonical);
    sync();
    page.body.removeAttribute("aria-busy");
    if (s.tab === "export") {
      page.scope.hidden = page.scopeNote.hidden = true;
      clear(page.body, exportPanel({ space: current.space, from: current.from, to: current.to, zone: report.time_zone, admin: me().role === "admin" }));
      return;
    }
    const mine = report.scope === "mine";
    page.scope.hidden = page.scopeNote.hidden = !mine;
    draw(report, totals);
    announce(t("reports.shown", { report: t(`reports.tab.${s.tab}`), from: dayLabel(report.from), to: dayLabel(report.to), n: report.rows.length }));
  } catch (err) {
    if (my !== token) return;
    page.body.removeAttribute("aria-busy");
    if (err instanceof ApiError && err.status === 400) {
      page.error.textContent = err.message;
      clear(page.body);
      page.error.focus();
    } else {
      ctx.handleError(err);
    }
  }
}

// -- a view ----------------------------------------------------------------------------------

function draw(report, totals) {
  const s = current;
  const spec = REPORTS[s.tab];
  const main = h("div", { class: "report-main" });
  const csvStatus = h("span", { class: "muted small csv-status", role: "status" });
  const csv = h("button", { type: "button", class: "btn small", id: "report-csv" }, t("reports.csv"));
  csv.addEventListener("click", () => downloadCsv(csv, csvStatus));
  const toolbar = h("div", { class: "report-toolbar" });
  const chartBox = h("div", { class: "chart-box" });
  if (spec.chart.hours) {
    const toggle = ["all", "business"].map((which) =>
      h(
        "button",
        {
          type: "button",
          class: "seg",
          "aria-pressed": String(hours === which),
          dataset: { hours: which },
          onclick: () => {
            hours = which;
            for (const b of toggle) b.setAttribute("aria-pressed", String(b.dataset.hours === hours));
            drawChart(chartBox, report, s, hours);
          },
        },
        t(`reports.hours.${which}`),
      ),
    );
    toolbar.append(h("div", { class: "segmented", role: "group", "aria-label": t("reports.hours.label") }, toggle));
  }
  toolbar.append(h("div", { class: "report-actions" }, csvStatus, csv));
  main.append(toolbar, chartBox, table(report, s));
  const lead = [t(`reports.lead.${s.tab}`)];
  if (s.tab === "missed" && report.total.missed_after_s != null) lead.push(t("reports.missedAfter", { after: duration(report.total.missed_after_s) }));
  clear(
    page.body,
    strip(totals),
    h(
      "section",
      { class: "report-view", "aria-labelledby": "report-title", dataset: { report: s.tab } },
      h("h2", { id: "report-title" }, t(`reports.tab.${s.tab}`)),
      h("p", { class: "report-lead" }, lead.join(" ")),
      h("div", { class: "report-grid" }, main, terms(spec.terms, s.by)),
    ),
  );
  // drawn at the width it has, and again when that changes (a window resized, turned)
  drawChart(chartBox, report, s, hours);
  resized?.disconnect();
  let drawnAt = chartBox.clientWidth;
  resized = new ResizeObserver(() => {
    if (Math.abs(chartBox.clientWidth - drawnAt) < 24 || !chartBox.isConnected) return;
    drawnAt = chartBox.clientWidth;
    drawChart(chartBox, report, s, hours);
  });
  resized.observe(chartBox);
}

// -- the CSV ---------------------------------------------------------------------------------

/** The report as CSV (Accept: text/csv), saved from a Blob: the same figures as the table. */
async function downloadCsv(button, status) {
  const s = current;
  button.disabled = true;
  status.textContent = t("reports.csvBusy");
  try {
    const response = await fetch(`/api/reports/${s.tab}?${apiQuery(s)}`, {
      headers: { accept: "text/csv" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new ApiError(response.status, data?.error?.code || `http_${response.status}`, data?.error?.message || "");
    }
    const blob = await response.blob();
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || `${s.tab}.csv`;
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status.textContent = t("reports.csvDone", { name }); // a status: read out
  } catch (err) {
    status.textContent = "";
    if (err instanceof ApiError && err.status === 401) ctx.handleError(err);
    else ctx.toast(err?.message || t("error.generic"));
  } finally {
    button.disabled = false;
  }
}
