// The satisfaction report (#satisfaction): a space's CSAT over a range of days (the last 30
// by default), overall, per agent and per team, from GET /api/csat. Every role has it: the
// server gives a relation agent its own row only, and the page says so. It is a tab of the
// Reports page (reports.js), whose tabs it shows.

import { ApiError, get } from "./api.js";
import { bidi, bidiText, clear, h } from "./dom.js";
import { lang, t } from "./i18n.js";
import { menuButton } from "./panes.js";
import { me, state } from "./state.js";
import { percent } from "./campaign-results.js";
import { reportTabs } from "./reports.js";

const DAYS = 30;

let root = null;
let ctx = null;
let token = 0; // the view being drawn; an answer for an older one is dropped
let chosen = null; // {space, from, to}: kept while the console is open

export function mountSatisfaction(el, context) {
  root = el;
  ctx = context;
}

export function hideSatisfaction() {
  token += 1;
}

/** YYYY-MM-DD of a date, in UTC (a default range; the server reads the days in the space's time zone). */
function day(date) {
  return date.toISOString().slice(0, 10);
}

function defaults() {
  const to = new Date();
  const from = new Date(to.getTime() - (DAYS - 1) * 86400000);
  return { space: state.session.spaces[0]?.key || "", from: day(from), to: day(to) };
}

const DASH = "—";
const mean = (x) =>
  x === null || x === undefined ? DASH : new Intl.NumberFormat(lang(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(x);
const count = (n) => new Intl.NumberFormat(lang()).format(n);

export function showSatisfaction() {
  hideSatisfaction();
  const my = token;
  const spaces = state.session.spaces;
  if (!chosen || !spaces.some((s) => s.key === chosen.space)) chosen = defaults();
  const relation = me().role === "relation";

  const space =
    spaces.length > 1
      ? h(
          "select",
          { id: "csat-space" },
          spaces.map((s) => h("option", { value: s.key, selected: s.key === chosen.space }, bidiText(s.key))),
        )
      : null;
  const from = h("input", { id: "csat-from", type: "date", required: true, value: chosen.from });
  const to = h("input", { id: "csat-to", type: "date", required: true, value: chosen.to });
  const submit = h("button", { type: "submit", class: "btn primary" }, t("csat.show"));
  const error = h("p", { class: "form-error", role: "alert", tabindex: "-1" });
  const form = h(
    "form",
    { class: "report-form", "aria-describedby": "csat-days" },
    space ? h("div", { class: "field" }, h("label", { for: "csat-space" }, t("campaigns.space")), space) : null,
    h("div", { class: "field" }, h("label", { for: "csat-from" }, t("csat.from")), from),
    h("div", { class: "field" }, h("label", { for: "csat-to" }, t("csat.to")), to),
    h("div", { class: "field report-submit" }, submit),
  );
  const body = h("div", { class: "report-body", "aria-live": "polite" }, h("p", { class: "muted" }, t("common.loading")));
  const heading = h("h1", { class: "page-title", tabindex: "-1" }, t("csat.title"));
  clear(
    root,
    h(
      "header",
      { class: "page-head" },
      h(
        "div",
        { class: "page-crumbs" },
        menuButton(),
        h("a", { href: "#", class: "narrow-only back" }, "← ", t("campaigns.toInbox")),
        relation ? null : h("a", { href: "#campaigns", class: "back" }, "← ", t("nav.campaigns")),
      ),
      h("div", { class: "page-title-row" }, heading),
    ),
    h(
      "div",
      { class: "page-body" },
      reportTabs("satisfaction"),
      h("p", { class: "definition", id: "csat-definition" }, t("csat.definition")),
      h("p", { class: "muted small", id: "csat-days" }, t("csat.days")),
      form,
      error,
      body,
    ),
  );
  heading.focus({ preventScroll: true });

  const load = async () => {
    error.textContent = "";
    submit.disabled = true;
    const params = new URLSearchParams({ space: chosen.space, from: chosen.from, to: chosen.to });
    try {
      const report = await get(`/api/csat?${params}`);
      if (my !== token) return;
      draw(body, report, relation);
    } catch (err) {
      if (my !== token) return;
      if (err instanceof ApiError && err.status === 400) {
        error.textContent = err.message;
        error.focus();
      } else {
        ctx.handleError(err);
      }
    } finally {
      submit.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    chosen = { space: space ? space.value : chosen.space, from: from.value, to: to.value };
    load();
  });
  load();
}

function draw(body, report, relation) {
  const byName = (a, b) => String(a.name || "").localeCompare(String(b.name || ""), lang());
  const agentLabel = (a) => (a.agent_id === me().id ? t("csat.you", { name: me().name }) : a.name || t("details.formerAgent"));
  const sections = [];
  if (report.overall) sections.push(h("section", { class: "report-overall", "aria-labelledby": "csat-overall" }, h("h2", { id: "csat-overall" }, t("csat.overall")), tiles(report.overall)));
  sections.push(
    table({
      id: "csat-agents",
      title: relation ? t("csat.mine") : t("csat.agents"),
      first: t("csat.agent"),
      rows: [...report.agents].sort(byName).map((a) => ({ key: a.agent_id, attr: { agentId: a.agent_id }, name: agentLabel(a), figures: a })),
      empty: relation ? t("csat.mineEmpty") : t("csat.agentsEmpty"),
    }),
  );
  if (relation) sections.push(h("p", { class: "muted small" }, t("csat.relationNote")));
  if (report.teams) {
    sections.push(
      table({
        id: "csat-teams",
        title: t("csat.teams"),
        first: t("csat.team"),
        rows: [...report.teams].sort(byName).map((team) => ({ key: team.team_id, attr: { teamId: team.team_id }, name: team.name || DASH, figures: team })),
        empty: t("csat.teamsEmpty"),
      }),
    );
  }
  clear(body, sections);
}

function tiles(f) {
  const tile = (label, value, hint, col) => h("div", { class: "tile", dataset: { col } }, h("dt", {}, label), h("dd", {}, h("strong", {}, value), hint ? h("span", { class: "muted small" }, hint) : null));
  return h(
    "dl",
    { class: "tiles" },
    tile(t("csat.score"), percent(f.score, 0), null, "score"),
    tile(t("csat.mean"), mean(f.mean), t("csat.outOf5"), "mean"),
    tile(t("csat.ratings"), count(f.ratings), null, "ratings"),
    tile(t("csat.responseRate"), percent(f.response_rate), t("csat.ofAsked", { n: count(f.asked) }), "response"),
  );
}

function table({ id, title, first, rows, empty }) {
  const head = [first, t("csat.score"), t("csat.mean"), t("csat.ratings"), t("csat.responseRate")];
  const cell = (col, i, ...children) => h("td", { class: "num", dataset: { col }, "data-label": head[i] }, children);
  return h(
    "section",
    { class: "report-section", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    rows.length
      ? h(
          "div",
          { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": `${id}-title` },
          h(
            "table",
            { class: "table report-table", id },
            h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              rows.map(({ key, attr, name, figures: f }) =>
                h(
                  "tr",
                  { dataset: { key, ...attr } },
                  h("th", { scope: "row" }, bidi(name)),
                  cell("score", 1, h("strong", {}, percent(f.score, 0))),
                  cell("mean", 2, mean(f.mean)),
                  cell("ratings", 3, count(f.ratings)),
                  cell("response", 4, percent(f.response_rate), h("div", { class: "muted small" }, t("csat.ofAsked", { n: count(f.asked) }))),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "empty-panel" }, empty),
  );
}
