// Campaigns, for marketing and admin agents: the list of their spaces' campaigns, one
// campaign's page (results, settings, history) with its Launch, Pause and Kill actions, and
// the editor for a new one. The section lives at #campaigns[/ID[/TAB]] (app.js routes it);
// the transcript review of an arm at #campaigns/ID/transcripts/PHASE/ARM, the blind review
// (no arm in its address) at #campaigns/ID/blind/PHASE, both under the Results tab.

import { ApiError, get, post } from "./api.js";
import { announce, bidi, bidiText, clear, h } from "./dom.js";
import { dateTimeLabel, t, timeLabel, tNodes } from "./i18n.js";
import { menuButton } from "./panes.js";
import { me, state } from "./state.js";
import { campaignEditor } from "./campaign-editor.js";
import { mountResults } from "./campaign-results.js";
import { mountTranscripts } from "./transcripts.js";

const TABS = ["results", "settings", "history"];
const STATUSES = ["live", "scheduled", "paused", "draft", "ended"];

let root = null;
let ctx = null;
let results = null; // the mounted results view: {stop()}
let token = 0; // the view being drawn; an answer for an older one is dropped
let focusTab = null; // after a tab was chosen with the keyboard or a click
let spaceFilter = "";

export function canUseCampaigns() {
  return ["marketing", "admin"].includes(me()?.role);
}

export function mountCampaigns(el, context) {
  root = el;
  ctx = context;
}

export function hideCampaigns() {
  results?.stop();
  results = null;
  token += 1;
}

/** Draw the view of a route: [] the list, ["new"], [id], [id, tab], [id, "transcripts",
 * phase, arm] or [id, "blind", phase]. */
export function showCampaigns(route) {
  hideCampaigns();
  const my = token;
  const [first, tab, phase, arm] = route;
  if (!first) return showList(my);
  if (first === "new") return showNew();
  if (tab === "blind" || (tab === "transcripts" && arm)) {
    return showCampaign(first, "results", my, { blind: tab === "blind", phase: Number(phase) || 0, arm: tab === "blind" ? null : arm });
  }
  return showCampaign(first, TABS.includes(tab) ? tab : null, my);
}

export function campaignsHash(...parts) {
  return "#" + ["campaigns", ...parts.filter(Boolean)].map(encodeURIComponent).join("/");
}

function go(...parts) {
  const hash = campaignsHash(...parts);
  if (location.hash === hash) showCampaigns(parts.filter(Boolean));
  else location.hash = hash;
}

function pageHead(title, { back = null, actions = [], badges = [] } = {}) {
  const heading = h("h1", { class: "page-title", tabindex: "-1" }, title);
  return h(
    "header",
    { class: "page-head" },
    h(
      "div",
      { class: "page-crumbs" },
      menuButton(),
      h("a", { href: "#", class: "narrow-only back" }, "← ", t("campaigns.toInbox")),
      back ? h("a", { href: campaignsHash(), class: "back" }, "← ", t("campaigns.all")) : null,
    ),
    h("div", { class: "page-title-row" }, heading, badges.length ? h("div", { class: "badges" }, badges) : null, h("div", { class: "page-actions" }, actions)),
  );
}

function focusHeading() {
  if (focusTab) {
    root.querySelector(`#ctab-${focusTab}`)?.focus();
    focusTab = null;
    return;
  }
  root.querySelector(".page-title")?.focus({ preventScroll: true });
}

export function statusBadge(status) {
  return h("span", { class: `status-badge st-${status}`, dataset: { status } }, t(`campaign.status.${status}`));
}

function spaceChip(key) {
  return state.session.spaces.length > 1 ? h("span", { class: "chip small space" }, bidi(key)) : null;
}

function failed(err, my) {
  if (my !== token) return;
  if (err instanceof ApiError && err.status === 404) {
    clear(root, pageHead(t("campaigns.notFound"), { back: true }), h("p", { class: "empty-panel" }, t("campaigns.notFoundHint")));
    focusHeading();
    return;
  }
  ctx.handleError(err);
}

// -- the list --------------------------------------------------------------------------------

async function showList(my) {
  const create = h("a", { class: "btn primary", href: campaignsHash("new") }, "+ ", t("campaigns.new"));
  const report = h("a", { class: "btn", href: "#satisfaction" }, t("nav.satisfaction"));
  const body = h("div", { class: "page-body" }, h("p", { class: "muted" }, t("common.loading")));
  clear(root, pageHead(t("campaigns.title"), { actions: [report, create] }), body);
  focusHeading();
  let campaigns;
  try {
    ({ campaigns } = await get("/api/campaigns"));
  } catch (err) {
    return failed(err, my);
  }
  if (my !== token) return;
  const spaces = state.session.spaces;
  if (!spaces.some((s) => s.key === spaceFilter)) spaceFilter = "";
  const filter =
    spaces.length > 1
      ? h(
          "select",
          { id: "campaign-space" },
          h("option", { value: "" }, t("campaigns.allSpaces")),
          spaces.map((s) => h("option", { value: s.key, selected: s.key === spaceFilter }, bidiText(s.key))),
        )
      : null;
  const tableBox = h("div", { class: "campaign-list" });
  const draw = () => {
    const shown = campaigns
      .filter((c) => !spaceFilter || c.space === spaceFilter)
      .sort((a, b) => STATUSES.indexOf(a.status) - STATUSES.indexOf(b.status) || (a.updated_at < b.updated_at ? 1 : -1));
    if (!shown.length) {
      clear(tableBox, h("div", { class: "empty-panel" }, h("h2", {}, t("campaigns.empty")), h("p", { class: "muted" }, t("campaigns.emptyHint")), create.cloneNode(true)));
      return;
    }
    const cols = [t("campaigns.name"), spaces.length > 1 ? t("campaigns.space") : null, t("campaigns.status"), t("campaigns.phase"), t("campaigns.priority"), t("campaigns.updated")].filter(Boolean);
    clear(
      tableBox,
      h(
        "table",
        { class: "table campaigns-table" },
        h("caption", { class: "visually-hidden" }, t("campaigns.title")),
        h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          shown.map((c) =>
            h(
              "tr",
              { dataset: { campaignId: c.id } },
              h("th", { scope: "row", class: "c-name" }, h("a", { href: campaignsHash(c.id) }, bidi(c.name))),
              spaces.length > 1 ? h("td", { "data-label": t("campaigns.space") }, bidi(c.space)) : null,
              h("td", { "data-label": t("campaigns.status") }, statusBadge(c.status)),
              h("td", { "data-label": t("campaigns.phase") }, c.phase ? String(c.phase) : "—"),
              h("td", { "data-label": t("campaigns.priority") }, String(c.priority)),
              h("td", { "data-label": t("campaigns.updated") }, h("time", { datetime: c.updated_at, title: dateTimeLabel(c.updated_at) }, timeLabel(c.updated_at))),
            ),
          ),
        ),
      ),
    );
  };
  filter?.addEventListener("change", () => {
    spaceFilter = filter.value;
    draw();
  });
  clear(body, filter ? h("div", { class: "list-tools field inline" }, h("label", { for: "campaign-space" }, t("campaigns.space")), filter) : null, tableBox);
  draw();
}

// -- a new campaign --------------------------------------------------------------------------

function showNew() {
  const form = campaignEditor({
    campaign: null,
    spaces: state.session.spaces,
    defaultSpace: spaceFilter,
    handleError: ctx.handleError,
    onSaved: (saved) => {
      ctx.toast(t("campaigns.created"));
      go(saved.id, "settings");
    },
    onCancel: () => go(),
  });
  clear(root, pageHead(t("editor.newTitle"), { back: true }), h("div", { class: "page-body" }, form));
  focusHeading();
}

// -- one campaign ----------------------------------------------------------------------------

async function showCampaign(id, tab, my, review = null) {
  let detail;
  try {
    detail = await get(`/api/campaigns/${encodeURIComponent(id)}`);
  } catch (err) {
    return failed(err, my);
  }
  if (my !== token) return;
  tab ||= detail.phase > 0 ? "results" : "settings";
  const actions = [];
  const action = (label, cls, fn) => h("button", { type: "button", class: `btn ${cls}`, onclick: fn }, label);
  if (detail.status === "draft" || detail.status === "paused") {
    actions.push(action(detail.status === "paused" ? t("campaign.resume") : t("campaign.launch"), "primary", () => transition(detail, "launch")));
  }
  if (detail.status === "live" || detail.status === "scheduled") actions.push(action(t("campaign.pause"), "", () => transition(detail, "pause")));
  if (detail.status !== "ended") actions.push(action(t("campaign.kill"), "danger", () => confirmKill(detail)));

  const badges = [
    statusBadge(detail.status),
    detail.phase ? h("span", { class: "chip small" }, t("results.phaseN", { n: detail.phase })) : null,
    spaceChip(detail.space),
  ].filter(Boolean);
  const tabButtons = TABS.map((name) =>
    h(
      "a",
      {
        href: campaignsHash(id, name),
        role: "tab",
        id: `ctab-${name}`,
        class: "tab",
        "aria-selected": String(name === tab),
        "aria-controls": "campaign-panel",
        tabindex: name === tab ? "0" : "-1",
        onclick: () => (focusTab = name),
      },
      t(`campaign.tab.${name}`),
    ),
  );
  const tablist = h("div", { role: "tablist", class: "tabs", "aria-label": t("campaign.sections") }, tabButtons);
  tablist.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    event.preventDefault();
    const index = tabButtons.indexOf(document.activeElement);
    const next = TABS[(index + (event.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length];
    focusTab = next;
    go(id, next);
  });
  const panel = h("div", { id: "campaign-panel", role: "tabpanel", "aria-labelledby": `ctab-${tab}`, class: "campaign-panel" });
  clear(root, pageHead(bidi(detail.name), { back: true, actions, badges }), h("div", { class: "page-body" }, tablist, panel));
  if (tab === "results" && review) {
    results = mountTranscripts(panel, {
      campaign: detail,
      ...review,
      handleError: ctx.handleError,
      hash: (...more) => campaignsHash(id, ...more),
    });
  } else if (tab === "results") {
    results = mountResults(panel, {
      campaign: detail,
      phases: detail.phases,
      handleError: ctx.handleError,
      hash: (...more) => campaignsHash(id, ...more),
    });
  } else if (tab === "settings") {
    panel.append(
      campaignEditor({
        campaign: detail,
        spaces: state.session.spaces,
        handleError: ctx.handleError,
        onSaved: (saved, { unchanged }) => {
          ctx.toast(unchanged ? t("editor.unchanged") : saved.phase > detail.phase ? t("editor.savedPhase", { n: saved.phase }) : t("admin.saved"));
          showCampaigns([id, "settings"]);
        },
        onCancel: () => showCampaigns([id, "settings"]),
      }),
    );
  } else {
    panel.append(history(detail));
  }
  focusHeading();
}

async function transition(campaign, verb) {
  try {
    const updated = await post(`/api/campaigns/${encodeURIComponent(campaign.id)}/${verb}`);
    const text = t(`campaign.done.${verb}`, { status: t(`campaign.status.${updated.status}`) });
    ctx.toast(text);
    announce(text);
    // a launch shows the results; anything else redraws the view it was done from
    const here = location.hash.split("/").slice(2).map((part) => decodeURIComponent(part));
    go(campaign.id, ...(verb === "launch" ? ["results"] : here));
  } catch (err) {
    ctx.handleError(err);
  }
}

function confirmKill(campaign) {
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "kill-title", "aria-describedby": "kill-text" });
  const cancel = h("button", { type: "button", class: "btn ghost", onclick: () => dialog.close() }, t("common.cancel"));
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: "kill-title" }, tNodes("campaign.killTitle", { name: bidi(campaign.name) })),
    h("p", { id: "kill-text" }, t("campaign.killText")),
    h("div", { class: "dialog-actions" }, cancel, h("button", { type: "submit", class: "btn danger-solid" }, t("campaign.killConfirm"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    dialog.close();
    transition(campaign, "kill");
  });
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  cancel.focus(); // the safe choice first
}

// -- history ---------------------------------------------------------------------------------

function who(agentId) {
  if (!agentId) return t("history.system");
  if (agentId === me()?.id) return me().name;
  return state.agents.get(agentId)?.name || t("history.former", { id: agentId.slice(0, 8) });
}

function describe(field, [before, after]) {
  const label = t(`field.${field}`);
  if (field === "status") return `${t(`campaign.status.${before}`)} → ${t(`campaign.status.${after}`)}`;
  if (field === "name") return [label, ": ", before === null ? "" : [bidi(before), " → "], bidi(after)];
  if (field === "holdout") return `${label}: ${Math.round(before * 1000) / 10} % → ${Math.round(after * 1000) / 10} %`;
  if (field === "priority") return `${label}: ${before} → ${after}`;
  return label;
}

function history(detail) {
  const rows = detail.versions.map((v) =>
    h(
      "tr",
      { dataset: { version: v.version } },
      h("th", { scope: "row" }, String(v.version)),
      h("td", { "data-label": t("history.who") }, bidi(who(v.agent_id))),
      h("td", { "data-label": t("history.when") }, h("time", { datetime: v.at }, dateTimeLabel(v.at))),
      h("td", { "data-label": t("history.action") }, t(`history.action.${v.action}`), v.phase ? h("span", { class: "muted small" }, ` · ${t("results.phaseN", { n: v.phase })}`) : null),
      h(
        "td",
        { "data-label": t("history.changes") },
        h(
          "ul",
          { class: "changes" },
          Object.entries(v.changes || {}).map(([field, pair]) => h("li", {}, describe(field, pair))),
        ),
      ),
    ),
  );
  return h(
    "table",
    { class: "table history-table" },
    h("caption", { class: "visually-hidden" }, t("campaign.tab.history")),
    h("thead", {}, h("tr", {}, [t("history.version"), t("history.who"), t("history.when"), t("history.action"), t("history.changes")].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows),
  );
}
