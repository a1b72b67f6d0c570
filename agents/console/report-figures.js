// What the Reports page shows of each report (GET /api/reports/{report}): its columns, the
// figure its chart draws, the definitions it lists (docs/reports.md, in i18n.js), and how each
// kind of figure reads: counts, shares, ratings and durations ("4 min 20 s", "1 h 05 min").

import { lang, t } from "./i18n.js";

export const DASH = "—";

export const REPORT_NAMES = ["overview", "first_response", "resolution", "volume", "csat", "missed"];
export const BREAKDOWNS = ["agent", "team", "campaign", "arm", "tag", "page"];

/**
 * Per report: the columns of its table (in the server's names), the chart (the bar's figure,
 * the mark's, and what sizes the series when there are too many), and the terms it defines.
 */
export const REPORTS = {
  overview: {
    columns: [
      "conversations",
      "resolved",
      "reopened",
      "missed",
      "missed_rate",
      "first_response_median_s",
      "first_response_p90_s",
      "first_response_median_s_bh",
      "resolution_median_s",
      "messages_per_conversation_mean",
      "csat_score",
      "csat_response_rate",
    ],
    chart: { bar: "conversations", size: "conversations" },
    terms: ["conversation", "first_response", "business_hours", "resolution", "reopened", "missed", "messages", "csat_score", "response_rate"],
  },
  first_response: {
    columns: ["conversations", "answered", "median_s", "p90_s", "mean_s", "median_s_bh", "p90_s_bh", "mean_s_bh"],
    chart: { bar: "median_s", mark: "p90_s", hours: true, size: "conversations" },
    terms: ["conversation", "answered", "first_response", "durations", "business_hours"],
  },
  resolution: {
    columns: ["conversations", "resolved", "reopened", "reopens", "median_s", "p90_s", "mean_s", "median_s_bh", "p90_s_bh", "mean_s_bh"],
    chart: { bar: "median_s", mark: "p90_s", hours: true, size: "conversations" },
    terms: ["conversation", "resolution", "reopened", "durations", "business_hours"],
  },
  volume: {
    columns: [
      "conversations",
      "messages",
      "visitor_messages",
      "agent_messages",
      "messages_per_conversation_mean",
      "messages_per_conversation_median",
      "in_business_hours",
      "wait_median_s",
      "wait_p90_s",
      "wait_mean_s",
    ],
    chart: { bar: "conversations", size: "conversations" },
    terms: ["conversation", "messages", "in_business_hours", "wait", "durations"],
  },
  csat: {
    columns: ["asked", "ratings", "response_rate", "score", "mean"],
    chart: { bar: "score", size: "ratings" },
    terms: ["csat_score", "response_rate", "asked", "ratings", "csat_mean"],
  },
  missed: {
    columns: ["conversations", "missed", "missed_rate"],
    chart: { bar: "missed_rate", size: "conversations" },
    terms: ["conversation", "missed", "missed_rate"],
  },
};

const SHARES = new Set(["missed_rate", "csat_score", "csat_response_rate", "response_rate", "score"]);
const DECIMALS = new Set(["messages_per_conversation_mean", "messages_per_conversation_median"]);

/** count, share, rating, decimal or duration: how a figure of this name reads. */
export function kindOf(column) {
  if (/_s(_bh)?$/.test(column)) return "duration";
  if (SHARES.has(column)) return "share";
  if (column === "mean") return "rating";
  if (DECIMALS.has(column)) return "decimal";
  return "count";
}

/** The business-hours twin of a duration figure: median_s -> median_s_bh. */
export const withinHours = (column) => (column.endsWith("_s") ? `${column}_bh` : column);

// -- numbers ---------------------------------------------------------------------------------

const formats = new Map();
function nf(min, max = min) {
  const key = `${lang()}:${min}:${max}`;
  if (!formats.has(key)) {
    formats.set(key, new Intl.NumberFormat(lang(), { minimumFractionDigits: min, maximumFractionDigits: max }));
  }
  return formats.get(key);
}

const NBSP = "\u00a0";
const missing = (x) => x === null || x === undefined;

export const count = (n) => (missing(n) ? DASH : nf(0).format(n));
export const share = (x, digits = 1) => (missing(x) ? DASH : `${nf(digits).format(x * 100)}${NBSP}%`);
export const decimal = (x) => (missing(x) ? DASH : nf(0, 2).format(x));
export const rating = (x) => (missing(x) ? DASH : nf(2).format(x));

const pad = (n) => String(n).padStart(2, "0");

/**
 * Seconds as people say them: "45 s", "4 min 20 s", "1 h 05 min", "2 d 16 h" (French "j"),
 * rounded to the second under an hour, to the minute under a day, to the hour beyond.
 */
export function duration(seconds) {
  if (missing(seconds)) return DASH;
  const unit = (key) => t(`reports.unit.${key}`);
  const part = (n, key) => `${n}${NBSP}${unit(key)}`;
  if (seconds < 9.95 && Math.round(seconds) !== seconds) return part(nf(1).format(Math.round(seconds * 10) / 10), "s");
  const whole = Math.round(seconds);
  if (whole < 60) return part(whole, "s");
  if (whole < 3600) {
    const s = whole % 60;
    return [part(Math.floor(whole / 60), "min"), s ? part(pad(s), "s") : ""].filter(Boolean).join(NBSP);
  }
  const minutes = Math.round(seconds / 60);
  if (minutes < 24 * 60) {
    const m = minutes % 60;
    return [part(Math.floor(minutes / 60), "h"), m ? part(pad(m), "min") : ""].filter(Boolean).join(NBSP);
  }
  const hours = Math.round(seconds / 3600);
  const rest = hours % 24;
  return [part(Math.floor(hours / 24), "d"), rest ? part(pad(rest), "h") : ""].filter(Boolean).join(NBSP);
}

/** A figure as the table shows it. */
export function figure(column, value) {
  switch (kindOf(column)) {
    case "duration":
      return duration(value);
    case "share":
      return share(value, column.includes("score") ? 0 : 1);
    case "rating":
      return rating(value);
    case "decimal":
      return decimal(value);
    default:
      return count(value);
  }
}

// -- days ------------------------------------------------------------------------------------

/** YYYY-MM-DD as a date of the calendar, whatever the browser's own time zone. */
const asDay = (day) => new Date(`${day}T12:00:00Z`);

export function dayLabel(day, style = "medium") {
  if (!day) return "";
  const options = style === "short" ? { day: "numeric", month: "short" } : { day: "numeric", month: "short", year: "numeric" };
  return new Intl.DateTimeFormat(lang(), { ...options, timeZone: "UTC" }).format(asDay(day));
}

/** A row's period: a day, or the week starting on that Monday. */
export function periodLabel(period, group, style = "medium") {
  if (!period) return "";
  const day = dayLabel(period, style);
  if (group !== "week") return style === "short" ? day : `${weekday(period)} ${day}`;
  return style === "short" ? day : t("reports.weekOf", { day });
}

const weekday = (day) => new Intl.DateTimeFormat(lang(), { weekday: "short", timeZone: "UTC" }).format(asDay(day));

export function isDay(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(asDay(text).getTime());
}

/** The day `n` days after `day` (YYYY-MM-DD). */
export function addDays(day, n) {
  const d = asDay(day);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Today in a time zone, YYYY-MM-DD. */
export function today(zone) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone || "UTC", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

/** The instant a day starts in a time zone, as ISO 8601 in UTC: what the export API takes. */
export function startOfDay(day, zone) {
  const offset = (ms) => {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone || "UTC",
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(new Date(ms));
    const v = Object.fromEntries(parts.map((p) => [p.type, Number(p.value)]));
    return Date.UTC(v.year, v.month - 1, v.day, v.hour % 24, v.minute, v.second) - ms;
  };
  const wall = Date.parse(`${day}T00:00:00Z`);
  const first = wall - offset(wall);
  return new Date(wall - offset(first)).toISOString().replace(".000Z", "Z");
}
