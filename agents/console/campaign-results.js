// A campaign's results, one phase at a time: the verdict first, a table per arm (exposed,
// conversions, rate and its interval, lift over the control with its fixed and always-valid
// intervals, p-values, CSAT, and a link to the arm's transcripts), the tags of reviewed
// transcripts per arm (and the blind review), the two server-drawn charts, the method, a short
// guide, and the CSV. While the campaign is live and the tab visible, it refreshes every 10
// seconds.

import { get } from "./api.js";
import { bidi, bidiText, clear, h } from "./dom.js";
import { dateTimeLabel, lang, t, tNodes } from "./i18n.js";

const REFRESH_MS = 10000;
const METHOD_KEYS = ["rate_interval", "lift_interval", "relative_interval", "sequential", "srm", "multiple_comparisons", "minimum"];

// -- numbers ---------------------------------------------------------------------------------

const formats = new Map();
function nf(digits, signed = false) {
  const key = `${lang()}:${digits}:${signed}`;
  if (!formats.has(key)) {
    formats.set(
      key,
      new Intl.NumberFormat(lang(), {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
        signDisplay: signed ? "exceptZero" : "auto",
      }),
    );
  }
  return formats.get(key);
}

const DASH = "—";
export const percent = (x, digits = 1) => (x === null || x === undefined ? DASH : `${nf(digits).format(x * 100)}\u00a0%`);
const points = (x) => (x === null || x === undefined ? DASH : nf(1, true).format(x * 100));
const count = (n) => nf(0).format(n);
const range = (pair, fmt) => (pair ? `${fmt(pair[0])} ${t("results.to")} ${fmt(pair[1])}` : DASH);

function pText(p) {
  if (p === null || p === undefined) return DASH;
  if (p < 0.0001) return `< ${nf(4).format(0.0001)}`;
  return nf(p < 0.001 ? 4 : 3).format(p);
}

const armName = (key) => (key === "holdout" ? t("results.holdout") : key);
const pWith = (p) => (p !== null && p !== undefined && p < 0.0001 ? `p ${pText(p)}` : `p = ${pText(p)}`);

// -- the verdict, in the console's language --------------------------------------------------

function minimum(results) {
  const m = /(\d+) exposed and (\d+) conversions/.exec(results.method?.minimum || "");
  return m ? { n: m[1], c: m[2] } : { n: "100", c: "25" };
}

export function verdictText(results) {
  const v = results.verdict;
  if (lang() === "en" || !v) return v?.text || "";
  const primary = results.goals?.[0]?.name;
  switch (v.code) {
    case "sample_ratio":
      return t("verdict.sample_ratio", { p: pWith(results.srm?.p_value) });
    case "not_enough_data":
      return t("verdict.not_enough_data", minimum(results));
    case "no_difference":
      return t("verdict.no_difference");
    case "better":
    case "worse": {
      const lift = results.lift.find((l) => l.arm === v.arm && l.metric === primary);
      if (!lift) return v.text;
      return t(`verdict.${v.code}`, {
        arm: v.arm,
        control: armName(results.control),
        lift: points(lift.absolute),
        lo: points(lift.sequential_ci?.[0]),
        hi: points(lift.sequential_ci?.[1]),
      });
    }
    default:
      return v.text;
  }
}

function warnText(results) {
  const v = results.verdict;
  if (!v?.warn) return results.srm?.warn ? t("verdict.warn", { p: pWith(results.srm.p_value) }) : "";
  return lang() === "en" ? v.warn : t("verdict.warn", { p: pWith(results.srm?.p_value) });
}

// -- the view --------------------------------------------------------------------------------

/**
 * Mount the results of `campaign` (with `phases` from GET /api/campaigns/{id}) in `root`;
 * `hash(...parts)` is the address of one of the campaign's views (its transcripts).
 * Returns {stop()}: the refresh timer and the visibility listener go with it.
 */
export function mountResults(root, { campaign, phases, handleError, hash }) {
  const id = encodeURIComponent(campaign.id);
  let phase = campaign.phase;
  let metric = null;
  let last = null;
  let timer = null;
  let loading = false;
  let reviewTags = []; // the space's review tags: a column each, even before any is given
  let reviewsDrawn = ""; // what the review counts on screen show

  if (campaign.phase < 1) {
    clear(root, h("div", { class: "empty-panel" }, h("p", {}, t("results.notLaunched"))));
    return { stop() {} };
  }

  const phaseSelect = h(
    "select",
    { id: "results-phase" },
    Array.from({ length: campaign.phase }, (_, i) => i + 1)
      .reverse()
      .map((n) => {
        const info = phases.find((p) => p.phase === n);
        const when = info ? ` · ${dateTimeLabel(info.started_at)}${info.ended_at ? ` – ${dateTimeLabel(info.ended_at)}` : ""}` : "";
        return h("option", { value: String(n), selected: n === phase }, t("results.phaseN", { n }) + when);
      }),
  );
  const metricSelect = h("select", { id: "results-metric" });
  const metricField = h("div", { class: "field inline", hidden: true }, h("label", { for: "results-metric" }, t("results.metric")), metricSelect);
  const refresh = h("button", { type: "button", class: "btn small" }, t("results.refresh"));
  const csv = h("a", { class: "btn small", download: "" }, t("results.csv"));
  const updated = h("p", { class: "muted small results-updated", "aria-live": "off" });
  const verdict = h("section", { class: "verdict", "aria-labelledby": "verdict-title" });
  const verdictTitle = h("h3", { id: "verdict-title" }, t("results.verdict"));
  const verdictLine = h("p", { class: "verdict-text", "aria-live": "polite" });
  const srmLine = h("p", { class: "srm-warn", hidden: true });
  verdict.append(verdictTitle, verdictLine, srmLine);
  const table = h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("results.tableLabel") });
  const blindLink = h("a", { class: "btn small", id: "blind-review" }, t("reviews.blind"));
  const reviewBox = h("div", { class: "reviews-box" });
  const reviews = h(
    "section",
    { class: "reviews", "aria-labelledby": "reviews-title" },
    h("div", { class: "reviews-head" }, h("h3", { id: "reviews-title" }, t("reviews.title")), blindLink),
    h("p", { class: "muted small" }, t("reviews.intro")),
    reviewBox,
  );
  const rateImg = h("img", { class: "chart", width: "640", height: "280", alt: "" });
  const liftImg = h("img", { class: "chart", width: "640", height: "280", alt: "" });
  const charts = h(
    "div",
    { class: "charts" },
    h("figure", {}, rateImg, h("figcaption", {}, t("results.rateChart"))),
    h("figure", {}, liftImg, h("figcaption", {}, t("results.liftChart"))),
  );
  const method = h("dl", { class: "method" });
  const side = h(
    "aside",
    { class: "results-side", "aria-label": t("results.method") },
    h("h3", {}, t("results.method")),
    method,
    guide(),
  );

  clear(
    root,
    h(
      "div",
      { class: "results-bar" },
      h("div", { class: "field inline" }, h("label", { for: "results-phase" }, t("results.phase")), phaseSelect),
      metricField,
      h("div", { class: "results-actions" }, refresh, csv),
    ),
    updated,
    verdict,
    h("div", { class: "results-grid" }, h("div", { class: "results-main" }, table, reviews, charts), side),
  );

  phaseSelect.addEventListener("change", () => {
    phase = Number(phaseSelect.value);
    metric = null;
    load();
  });
  metricSelect.addEventListener("change", () => {
    metric = metricSelect.value;
    draw(last);
  });
  refresh.addEventListener("click", () => load());

  async function loadTags() {
    try {
      reviewTags = (await get(`/api/review-tags?space=${encodeURIComponent(campaign.space)}`)).tags;
      if (last && root.isConnected) drawReviews(last);
    } catch {
      // the counts alone, then
    }
  }

  async function load() {
    if (loading) return;
    loading = true;
    try {
      const results = await get(`/api/campaigns/${id}/results?phase=${phase}`);
      if (!root.isConnected) return;
      last = results;
      draw(results);
    } catch (err) {
      handleError(err);
    } finally {
      loading = false;
    }
  }

  function draw(results) {
    const names = results.goals.map((g) => g.name);
    if (!metric || !names.includes(metric)) metric = names[0];
    metricField.hidden = names.length < 2;
    if (metricSelect.dataset.names !== JSON.stringify(names)) {
      metricSelect.dataset.names = JSON.stringify(names);
      clear(
        metricSelect,
        names.map((n, i) => h("option", { value: n, selected: n === metric }, bidiText(n), i === 0 ? ` (${t("results.primary")})` : "")),
      );
    }
    csv.href = `/api/campaigns/${id}/results?phase=${results.phase}&format=csv`;
    const live = campaign.status === "live" && results.phase === campaign.phase;
    updated.textContent = [
      results.started_at ? t("results.since", { when: dateTimeLabel(results.started_at) }) : "",
      results.ended_at ? t("results.until", { when: dateTimeLabel(results.ended_at) }) : "",
      t("results.updated", { time: new Intl.DateTimeFormat(lang(), { timeStyle: "medium" }).format(new Date()) }),
      live ? t("results.auto") : "",
    ]
      .filter(Boolean)
      .join(" · ");

    const text = verdictText(results);
    verdict.className = `verdict v-${results.verdict.code}`;
    verdict.dataset.code = results.verdict.code;
    if (verdictLine.textContent !== text) verdictLine.textContent = text;
    const warn = warnText(results);
    srmLine.hidden = !results.srm?.warn || results.verdict.code === "sample_ratio";
    if (srmLine.textContent !== warn) srmLine.textContent = warn ? `${t("results.srmWarn")} ${warn}` : "";

    drawTable(results);
    drawReviews(results);

    const signature = `${results.phase}:${results.arms.map((a) => `${a.exposed}/${a.converted}`).join(",")}`;
    const src = (chart) => `/api/campaigns/${id}/charts/${chart}?phase=${results.phase}&v=${encodeURIComponent(signature)}`;
    if (rateImg.dataset.signature !== signature) {
      rateImg.src = src("rate");
      liftImg.src = src("lift");
      rateImg.dataset.signature = liftImg.dataset.signature = signature;
    }
    rateImg.alt = rateAlt(results, text);
    liftImg.alt = liftAlt(results, text);

    clear(
      method,
      METHOD_KEYS.filter((k) => results.method?.[k]).map((k) => [h("dt", {}, t(`method.${k}`)), h("dd", {}, results.method[k])]),
    );
  }

  function drawTable(results) {
    const lifts = new Map(results.lift.filter((l) => l.metric === metric).map((l) => [l.arm, l]));
    const primary = metric === results.goals[0].name;
    const head = [
      t("results.arm"),
      t("results.exposed"),
      t("results.conversions"),
      t("results.rate"),
      t("results.lift", { control: armName(results.control) }),
      t("results.pValue"),
      t("results.csat"),
    ];
    const cell = (col, label, ...children) => h("td", { class: "num", dataset: { col }, "data-label": head[label] }, children);
    const rows = results.arms.map((arm) => {
      const m = arm.metrics[metric] || { converted: 0, rate: null, ci: null };
      const lift = arm.key === results.control ? null : lifts.get(arm.key);
      const trend = lift?.significant ? (lift.absolute > 0 ? "up" : "down") : "";
      return h(
        "tr",
        { dataset: { arm: arm.key } },
        h(
          "th",
          { scope: "row" },
          h("span", { class: "arm-key" }, bidi(armName(arm.key))),
          arm.key === results.control ? h("span", { class: "chip small" }, t("results.control")) : null,
          h("div", { class: "muted small" }, t("results.expected", { share: percent(arm.expected_share, 0) })),
          h(
            "a",
            { class: "read-transcripts small", href: hash("transcripts", String(results.phase), arm.key) },
            t("reviews.read"),
            h("span", { class: "visually-hidden" }, tNodes("reviews.ofArm", { arm: bidi(armName(arm.key)) })),
          ),
        ),
        cell("exposed", 1, count(arm.exposed)),
        cell("converted", 2, count(m.converted)),
        cell("rate", 3, h("strong", {}, percent(m.rate)), h("div", { class: "muted small" }, range(m.ci, (x) => percent(x)))),
        lift
          ? cell(
              "lift",
              4,
              h("strong", { class: trend }, lift.absolute === null ? DASH : `${points(lift.absolute)} ${t("results.pts")}`),
              lift.relative !== null ? h("span", { class: "muted small" }, ` (${nf(0, true).format(lift.relative * 100)}\u00a0%)`) : null,
              h("div", { class: "muted small" }, t("results.fixedCi", { range: range(lift.absolute_ci, points) })),
              h("div", { class: "small", dataset: { col: "sequential" } }, t("results.sequentialCi", { range: range(lift.sequential_ci, points) })),
              lift.significant ? h("div", {}, h("span", { class: "chip small sig" }, t("results.significant"))) : null,
            )
          : cell("lift", 4, h("span", { class: "muted" }, arm.key === results.control ? t("results.baseline") : DASH)),
        cell("p", 5, lift ? [pText(lift.p_value), h("div", { class: "muted small" }, t("results.adjusted", { p: pText(lift.p_adjusted) }))] : DASH),
        cell(
          "csat",
          6,
          arm.csat?.ratings ? [percent(arm.csat.score, 0), h("div", { class: "muted small" }, t("results.ratings", { n: arm.csat.ratings }))] : DASH,
        ),
      );
    });
    clear(
      table,
      h(
        "table",
        { class: "table results-table" },
        h("caption", { class: "visually-hidden" }, tNodes("results.caption", { metric: bidi(metric), phase: results.phase })),
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows),
      ),
      primary ? null : h("p", { class: "muted small table-note" }, t("results.secondaryNote")),
    );
  }

  /** The tags reviewers gave each arm's transcripts: a row per arm, a column per tag. */
  function drawReviews(results) {
    blindLink.href = hash("blind", String(results.phase));
    const counted = results.arms.flatMap((a) => Object.keys(a.reviews || {}));
    const tags = [...new Set([...reviewTags, ...counted])].sort();
    // drawn again only when it changed: a refresh keeps the keyboard's place in it
    const signature = JSON.stringify([results.phase, tags, results.arms.map((a) => [a.key, a.reviews || {}])]);
    if (reviewsDrawn === signature) return;
    reviewsDrawn = signature;
    if (!tags.length) {
      clear(reviewBox, h("p", { class: "muted reviews-empty" }, t("reviews.noTags")));
      return;
    }
    clear(
      reviewBox,
      h(
        "div",
        { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "reviews-title" },
        h(
          "table",
          { class: "table reviews-table" },
          h("caption", { class: "visually-hidden" }, t("reviews.caption", { phase: results.phase })),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("results.arm")), tags.map((tag) => h("th", { scope: "col" }, bidi(tag))))),
          h(
            "tbody",
            {},
            results.arms.map((arm) =>
              h(
                "tr",
                { dataset: { reviewArm: arm.key } },
                h("th", { scope: "row" }, h("span", { class: "arm-key" }, bidi(armName(arm.key)))),
                tags.map((tag) => {
                  const n = arm.reviews?.[tag] || 0;
                  return h("td", { class: "num" + (n ? "" : " zero"), dataset: { tag } }, count(n));
                }),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function tick() {
    if (document.visibilityState === "visible" && campaign.status === "live" && phase === campaign.phase && root.isConnected) load();
    if (!root.isConnected) stop();
  }
  const onVisible = () => document.visibilityState === "visible" && tick();
  function stop() {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
  }
  timer = setInterval(tick, REFRESH_MS);
  document.addEventListener("visibilitychange", onVisible);
  load();
  loadTags();
  return { stop };
}

function rateAlt(results, verdict) {
  const arms = results.arms.map((a) =>
    t("results.altArm", {
      arm: armName(a.key),
      x: count(a.converted),
      n: count(a.exposed),
      rate: percent(a.rate),
    }),
  );
  return `${t("results.rateChart")}, ${t("results.phaseN", { n: results.phase })}: ${arms.join("; ")}. ${verdict}`;
}

function liftAlt(results, verdict) {
  const primary = results.goals[0].name;
  const lifts = results.lift
    .filter((l) => l.metric === primary)
    .map((l) => t("results.altLift", { arm: armName(l.arm), lift: points(l.absolute), band: range(l.sequential_ci, points) }));
  return `${t("results.liftChart")}, ${t("results.phaseN", { n: results.phase })}: ${lifts.join("; ") || DASH}. ${verdict}`;
}

function guide() {
  const items = ["exposed", "conversion", "rate", "lift", "sequential", "p", "minimum", "srm", "holdout", "phase"];
  return h(
    "details",
    { class: "guide" },
    h("summary", {}, t("guide.title")),
    h("dl", {}, items.map((k) => [h("dt", {}, t(`guide.${k}.term`)), h("dd", {}, t(`guide.${k}.text`))])),
  );
}
