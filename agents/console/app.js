// The console: sign-in, then the inbox, a conversation and its details, kept live by the
// agent's WebSocket; for marketing and admin agents, the Campaigns section (#campaigns); and
// for everyone the Reports (#reports/REPORT?...) and the Satisfaction report (#satisfaction);
// for admins the Privacy page (#privacy[/TAB]).
// Every user-supplied string is rendered as text, bidi-isolated (see dom.js).

import { ApiError, get, post, del, setCsrf } from "./api.js";
import { openAdmin, openPassword } from "./admin.js";
import { canUseCampaigns, hideCampaigns, mountCampaigns, showCampaigns } from "./campaigns.js";
import {
  mountConversation,
  openConversation,
  ratingOf,
  receive as conversationFrame,
  setConversationShown,
} from "./conversation.js";
import { announce, avatar, bidi, bidiText, clear, h } from "./dom.js";
import { LANGUAGES, lang, setLang, t, timeLabel } from "./i18n.js";
import { askPermission, canAskPermission, notify } from "./notify.js";
import { closeButton, closeDrawer, menuButton, mountPanes, showPane } from "./panes.js";
import { canUsePrivacy, hidePrivacy, mountPrivacy, showPrivacy } from "./privacy.js";
import { hideReports, mountReports, showReports } from "./reports.js";
import { hideSatisfaction, mountSatisfaction, showSatisfaction } from "./satisfaction.js";
import { AgentSocket } from "./socket.js";
import { changed, me, on, state, visitorName, agentName, teamName } from "./state.js";

const app = document.getElementById("app");
let socket = null;
let refreshTimer = null;
let agentsTimer = null;
let section = "inbox"; // or "campaigns", "reports", "satisfaction"

document.documentElement.lang = lang();

// -- sign-in ---------------------------------------------------------------------------------

function showSignIn(notice = "", firstRun = false) {
  socket?.close();
  socket = null;
  hideCampaigns();
  hideReports();
  hideSatisfaction();
  hidePrivacy();
  state.session = null;
  app.setAttribute("aria-busy", "false");
  const error = h("p", { class: "signin-error", role: "alert" }, notice);
  const email = h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "btn primary wide" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "signin-card", "aria-labelledby": "signin-title", novalidate: true },
    h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), t("app.name")),
    h("h1", { id: "signin-title" }, t("signin.title")),
    h("p", { class: "muted" }, t("signin.subtitle")),
    firstRun ? h("p", { class: "muted", role: "note" }, t("signin.noAgent"), " ", h("code", {}, FIRST_ADMIN)) : null,
    h("label", { for: "email" }, t("signin.email")),
    email,
    h("label", { for: "password" }, t("signin.password")),
    password,
    error,
    submit,
    languagePicker("signin-lang", () => showSignIn("", firstRun)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    submit.textContent = t("signin.busy");
    try {
      const session = await post("/api/session", { email: email.value.trim(), password: password.value });
      await start(session);
    } catch (err) {
      submit.disabled = false;
      submit.textContent = t("signin.submit");
      password.value = "";
      error.textContent =
        err instanceof ApiError && err.status === 423
          ? t("signin.locked")
          : err instanceof ApiError && err.status === 401
            ? t("signin.bad")
            : t("signin.error");
      password.focus();
    }
  });
  clear(app, h("main", { class: "signin" }, form));
  email.focus();
}

// a first run: the server has no agent yet, and says only that (GET /api/setup)
const FIRST_ADMIN =
  "echo '…' | causette agent create --email you@example.com --name 'Your Name' --role admin --password-stdin";

async function noAgentYet() {
  try {
    return (await get("/api/setup")).has_agents === false;
  } catch {
    return false;
  }
}

function languagePicker(id, after) {
  const select = h(
    "select",
    { id, class: "lang-select" },
    LANGUAGES.map(([code, name]) => h("option", { value: code, selected: code === lang() }, name)),
  );
  select.addEventListener("change", () => {
    setLang(select.value);
    after();
  });
  return h("div", { class: "lang" }, h("label", { for: id }, t("lang.label")), select);
}

// -- the workspace ---------------------------------------------------------------------------

async function start(session) {
  state.session = session;
  setCsrf(session.csrf_token);
  state.view = session.views.includes(state.view) ? state.view : "mine";
  app.setAttribute("aria-busy", "true");
  await Promise.all([loadAgents(), loadTeams(), loadCanned()]);
  buildShell();
  route();
  socket = new AgentSocket({
    token: session.ws_token,
    onFrame: receive,
    onState: (status, welcome) => {
      state.connection = status;
      if (status === "online" && welcome) {
        for (const p of welcome.presence || []) state.presence.set(p.agent_id, p.status);
        if (state.myStatus === "away") send({ type: "presence", status: "away" });
        refresh();
        if (state.openId) openConversation(state.openId, { quiet: true });
      }
      changed("connection", "team");
    },
    onSignedOut: () => showSignIn(t("signin.signedOut")),
    refreshToken: async () => {
      const fresh = await get("/api/session");
      state.session = fresh;
      setCsrf(fresh.csrf_token);
      return fresh.ws_token;
    },
  });
  socket.connect();
  await refresh();
  app.setAttribute("aria-busy", "false");
}

export function send(frame) {
  return socket?.send(frame) ?? false;
}

async function loadAgents() {
  const { agents } = await get("/api/agents");
  state.agents = new Map(agents.map((a) => [a.id, a]));
  for (const a of agents) if (!state.presence.has(a.id)) state.presence.set(a.id, a.status);
  changed("team");
}

async function loadTeams() {
  state.teams = (await get("/api/teams")).teams;
}

async function loadCanned() {
  state.canned = (await get("/api/canned")).canned;
}

function parseSearch(text) {
  const params = new URLSearchParams();
  const words = [];
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const [key, ...rest] = word.split(":");
    const value = rest.join(":");
    if ((key === "tag" || key === "visitor") && value) params.set(key, value);
    else words.push(word);
  }
  if (words.length) params.set("q", words.join(" "));
  return params;
}

let refreshes = 0; // the latest refresh: an older answer arriving after it is dropped

async function refresh() {
  if (!state.session) return;
  const my = ++refreshes;
  const params = parseSearch(state.search);
  params.set("view", state.view);
  params.set("status", state.status);
  try {
    const [{ conversations }, { counts }] = await Promise.all([
      get(`/api/conversations?${params}`),
      get("/api/inbox/counts"),
    ]);
    if (my !== refreshes) return; // the view or the filter changed meanwhile
    state.list = conversations;
    for (const entry of conversations) state.entries.set(entry.id, entry);
    state.counts = counts;
    changed("inbox", "views");
  } catch (err) {
    handleError(err);
  }
}

export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 250);
}

function scheduleAgents() {
  clearTimeout(agentsTimer);
  agentsTimer = setTimeout(() => loadAgents().catch(handleError), 400);
}

export function handleError(err) {
  if (err instanceof ApiError && err.status === 401) {
    showSignIn(t("signin.signedOut"));
    return;
  }
  toast(err?.message || t("error.generic"));
}

export function toast(text) {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = h("div", { class: "toast", role: "status" }, bidi(text)); // may quote the server
  region.append(item);
  setTimeout(() => item.remove(), 5000);
}

function buildShell() {
  const sidebar = h("nav", { class: "sidebar", id: "sidebar", "aria-label": t("views.label") });
  const inbox = h("section", { class: "inbox", "aria-label": t("inbox.list") });
  const conversation = h("main", { class: "conversation", id: "conversation" });
  const details = h("aside", { class: "details", id: "details", "aria-label": t("details.visitor") });
  const campaigns = h("main", { class: "campaigns", id: "campaigns", hidden: true });
  const reports = h("main", { class: "campaigns reports", id: "reports", hidden: true });
  const satisfaction = h("main", { class: "campaigns report", id: "satisfaction", hidden: true });
  const privacy = h("main", { class: "campaigns privacy", id: "privacy", hidden: true });
  const banner = h("div", { class: "banner", role: "status", hidden: true });
  const workspace = h("div", { class: "workspace" }, sidebar, inbox, conversation, details, campaigns, reports, satisfaction, privacy);
  clear(app, banner, workspace, h("div", { id: "toasts", class: "toasts", "aria-live": "polite" }));
  mountPanes(workspace, sidebar);
  renderSidebar(sidebar);
  renderInboxColumn(inbox);
  mountConversation(conversation, details, { send, scheduleRefresh, handleError, toast });
  mountCampaigns(campaigns, { handleError, toast });
  mountReports(reports, { handleError, toast });
  mountSatisfaction(satisfaction, { handleError, toast });
  mountPrivacy(privacy, { handleError, toast });
  on("connection", () => {
    banner.hidden = state.connection !== "reconnecting";
    banner.textContent = t("conn.reconnecting");
  });
}

// -- sections: the inbox, #campaigns[/ID[/TAB[/...]]], #reports[/REPORT][?QUERY] or #satisfaction

function route() {
  const workspace = app.querySelector(".workspace");
  if (!state.session || !workspace) return;
  const hash = location.hash.replace(/^#\/?/, "");
  const cut = hash.indexOf("?"); // a page's controls, as a query (the reports' range)
  const query = cut < 0 ? "" : hash.slice(cut + 1);
  let parts;
  try {
    parts = (cut < 0 ? hash : hash.slice(0, cut)).split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  const pages = { campaigns: canUseCampaigns(), reports: true, satisfaction: true, privacy: canUsePrivacy() };
  const next = Object.hasOwn(pages, parts[0]) && pages[parts[0]] ? parts[0] : "inbox";
  section = next;
  closeDrawer({ focus: false }); // a page was chosen in it: the page takes the focus
  // a page (Campaigns, Reports, Satisfaction) takes the place of the inbox, the conversation
  // and its details
  workspace.classList.toggle("campaigns-mode", next !== "inbox");
  document.getElementById("conversation").hidden = next !== "inbox";
  document.getElementById("campaigns").hidden = next !== "campaigns";
  document.getElementById("reports").hidden = next !== "reports";
  document.getElementById("satisfaction").hidden = next !== "satisfaction";
  document.getElementById("privacy").hidden = next !== "privacy";
  setConversationShown(next === "inbox");
  if (next === "campaigns") showCampaigns(parts.slice(1));
  else hideCampaigns();
  if (next === "reports") showReports(parts.slice(1), query);
  else hideReports();
  if (next === "satisfaction") showSatisfaction();
  else hideSatisfaction();
  if (next === "privacy") showPrivacy(parts.slice(1), query);
  else hidePrivacy();
  changed("views");
}

window.addEventListener("hashchange", route);

function showInbox() {
  if (section === "inbox") return;
  if (location.hash) location.hash = "";
  else route();
}

// -- the sidebar -----------------------------------------------------------------------------

const VIEW_ICONS = { mine: "◉", unassigned: "◌", team: "◈", all: "▤" };

function renderSidebar(root) {
  const views = h("ul", { class: "views" });
  const marketing = h("ul", { class: "views" });
  const reports = h("ul", { class: "views" });
  const compliance = h("ul", { class: "views" });
  const team = h("ul", { class: "teammates", "aria-label": t("team.title") });
  const mine = me();
  const status = h(
    "select",
    { id: "my-status", class: "status-select" },
    ["online", "away"].map((s) => h("option", { value: s }, t(`status.${s}`))),
  );
  status.addEventListener("change", () => {
    state.myStatus = status.value; // sent again after every reconnect
    send({ type: "presence", status: status.value });
  });
  const notifyButton = h("button", { type: "button", class: "btn ghost small", hidden: !canAskPermission() }, t("nav.notify"));
  notifyButton.addEventListener("click", async () => {
    await askPermission();
    notifyButton.hidden = !canAskPermission();
  });
  const footer = h(
    "div",
    { class: "me" },
    h(
      "div",
      { class: "me-row" },
      avatar(mine.name, mine.id, "small"),
      h("div", { class: "me-name" }, h("strong", {}, bidi(mine.name)), h("span", { class: "muted" }, t(`role.${mine.role}`))),
    ),
    h("div", { class: "field-row" }, h("label", { for: "my-status" }, t("status.label")), status),
    languagePicker("console-lang", () => location.reload()),
    notifyButton,
    mine.role === "admin"
      ? h("button", { type: "button", class: "btn ghost small", onclick: () => openAdmin(adminContext()) }, t("nav.admin"))
      : null,
    h("button", { type: "button", class: "btn ghost small", onclick: () => openPassword(adminContext()) }, t("nav.password")),
    h("button", { type: "button", class: "btn ghost small", onclick: signOut }, t("nav.signout")),
  );
  clear(
    root,
    h(
      "div",
      { class: "sidebar-top" },
      h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), t("app.name")),
      closeButton(),
    ),
    h("h2", { class: "section-title" }, t("views.label")),
    views,
    canUseCampaigns() ? [h("h2", { class: "section-title" }, t("nav.marketing")), marketing] : null,
    h("h2", { class: "section-title" }, t("nav.insights")),
    reports,
    canUsePrivacy() ? [h("h2", { class: "section-title" }, t("nav.compliance")), compliance] : null,
    h("h2", { class: "section-title" }, t("team.title")),
    team,
    footer,
  );
  const pageLink = (name, href, icon, label) =>
    h(
      "li",
      {},
      h(
        "a",
        { href, class: "view" + (section === name ? " active" : ""), "aria-current": section === name ? "page" : null },
        h("span", { class: "view-icon", "aria-hidden": "true" }, icon),
        h("span", { class: "view-name" }, label),
      ),
    );
  const drawViews = () => {
    const inInbox = section === "inbox";
    clear(marketing, pageLink("campaigns", "#campaigns", "◆", t("nav.campaigns")));
    clear(
      reports,
      pageLink("reports", "#reports", "▥", t("nav.reports")),
      pageLink("satisfaction", "#satisfaction", "★", t("nav.satisfaction")),
    );
    clear(compliance, pageLink("privacy", "#privacy", "▣", t("nav.privacy")));
    clear(
      views,
      state.session.views.map((view) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "view" + (inInbox && state.view === view ? " active" : ""),
              "aria-current": inInbox && state.view === view ? "page" : null,
              onclick: () => {
                state.view = view;
                closeDrawer();
                showPane("inbox");
                showInbox();
                changed("views");
                refresh();
              },
            },
            h("span", { class: "view-icon", "aria-hidden": "true" }, VIEW_ICONS[view]),
            h("span", { class: "view-name" }, t(`views.${view}`)),
            h("span", { class: "count", "aria-label": `${state.counts[view] ?? 0}` }, String(state.counts[view] ?? 0)),
          ),
        ),
      ),
    );
  };
  const drawTeam = () => {
    const mates = [...state.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
    status.value = state.myStatus;
    clear(
      team,
      mates.length
        ? mates.map((a) => {
            const st = state.presence.get(a.id) || "offline";
            return h(
              "li",
              { class: "mate", dataset: { agentId: a.id, status: st } },
              h("span", { class: `dot ${st}`, "aria-hidden": "true" }),
              h("span", { class: "mate-name" }, bidi(a.name)),
              h("span", { class: "visually-hidden mate-status" }, t(`status.${st}`)),
            );
          })
        : h("li", { class: "muted" }, t("team.none")),
    );
  };
  on("views", drawViews);
  on("team", drawTeam);
  drawViews();
  drawTeam();
}

function adminContext() {
  return {
    state,
    toast,
    handleError,
    reload: async () => {
      await Promise.all([loadAgents(), loadTeams(), loadCanned()]);
      changed("team", "detail");
    },
    sessionChanged: (session) => {
      state.session = session;
      setCsrf(session.csrf_token);
      if (socket) socket.token = session.ws_token;
    },
  };
}

async function signOut() {
  try {
    await del("/api/session");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) return handleError(err);
  }
  showSignIn();
}

// -- the inbox -------------------------------------------------------------------------------

function renderInboxColumn(root) {
  const search = h("input", {
    id: "search",
    type: "search",
    placeholder: t("search.placeholder"),
    autocomplete: "off",
    value: state.search,
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = search.value;
      refresh();
    }, 200);
  });
  const statusButtons = ["open", "resolved"].map((s) =>
    h(
      "button",
      {
        type: "button",
        class: "seg",
        "aria-pressed": String(state.status === s),
        onclick: () => {
          state.status = s;
          for (const b of statusButtons) b.setAttribute("aria-pressed", String(b.dataset.status === s));
          refresh();
        },
        dataset: { status: s },
      },
      t(`filter.${s}`),
    ),
  );
  const title = h("h2", { class: "inbox-title" });
  const list = h("ul", { class: "inbox-list", "aria-label": t("inbox.list") });
  list.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const buttons = [...list.querySelectorAll("button.item")];
    const index = buttons.indexOf(document.activeElement);
    const next = buttons[index + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });
  clear(
    root,
    h(
      "header",
      { class: "inbox-head" },
      h("div", { class: "inbox-top" }, menuButton(), title),
      h("div", { class: "search" }, h("label", { for: "search", class: "visually-hidden" }, t("search.label")), search),
      h("div", { class: "segmented", role: "group", "aria-label": t("filter.label") }, statusButtons),
    ),
    list,
  );
  const draw = () => {
    title.textContent = t(`views.${state.view}`);
    if (!state.list.length) {
      clear(list, h("li", { class: "empty" }, state.search ? t("inbox.emptySearch") : t("inbox.empty")));
      return;
    }
    clear(list, state.list.map(inboxItem));
  };
  on("inbox", draw);
  draw();
}

function inboxItem(entry) {
  const name = visitorName(entry.visitor, t);
  const last = entry.last_message;
  const owner = entry.assignee_id
    ? entry.assignee_id === me().id
      ? teamName(entry.team_id)
      : agentName(entry.assignee_id)
    : entry.team_id
      ? teamName(entry.team_id)
      : t("conv.unassigned");
  const unread = entry.unread > 0 && entry.id !== state.openId;
  return h(
    "li",
    {},
    h(
      "button",
      {
        type: "button",
        class: "item" + (entry.id === state.openId ? " active" : "") + (unread ? " unread" : ""),
        "aria-current": entry.id === state.openId ? "true" : null,
        dataset: { conversationId: entry.id },
        onclick: () => {
          openConversation(entry.id);
          showPane("conversation");
        },
      },
      avatar(name, entry.visitor.id),
      h(
        "span",
        { class: "item-body" },
        h(
          "span",
          { class: "item-top" },
          h("span", { class: "item-name" }, bidi(name)),
          h("time", { class: "item-time", datetime: entry.updated_at }, timeLabel(entry.updated_at)),
        ),
        h(
          "span",
          { class: "item-preview" },
          last ? [last.author_kind === "agent" ? `${t("conv.you")}: ` : "", bidi(last.body)] : "",
        ),
        h(
          "span",
          { class: "item-meta" },
          owner ? h("span", { class: "item-owner" }, bidi(owner)) : null,
          ratedChip(ratingOf(entry.id)),
          entry.tags.slice(0, 3).map((tag) => h("span", { class: "chip small" }, bidi(tag))),
          state.session.spaces.length > 1 ? h("span", { class: "chip small space" }, bidi(entry.space)) : null,
        ),
      ),
      unread ? h("span", { class: "badge", "aria-label": t("inbox.unread", { n: entry.unread }) }, String(entry.unread)) : null,
    ),
  );
}

/** A small marker on a conversation whose visitor rated it (as far as this console knows). */
function ratedChip(score) {
  if (score === null) return null;
  return h(
    "span",
    { class: `chip small rated r-${score}`, title: t("inbox.rated", { score }) },
    h("span", { "aria-hidden": "true" }, "★ "),
    h("span", { class: "visually-hidden" }, t("inbox.rated", { score })),
    h("span", { "aria-hidden": "true" }, String(score)),
  );
}

// -- live frames -----------------------------------------------------------------------------

function receive(frame) {
  switch (frame.type) {
    case "message": {
      const entry = state.entries.get(frame.conversation_id);
      const fromVisitor = frame.author?.kind === "visitor";
      if (entry) {
        entry.last_seq = Math.max(entry.last_seq, frame.seq);
        entry.last_message = { body: frame.body, author_kind: frame.author.kind, created_at: frame.created_at };
        entry.updated_at = frame.created_at;
        if (fromVisitor && (frame.conversation_id !== state.openId || document.hidden)) entry.unread += 1;
        const index = state.list.indexOf(entry);
        if (index > 0) {
          state.list.splice(index, 1);
          state.list.unshift(entry);
        }
        changed("inbox");
      }
      if (fromVisitor) {
        const name = visitorName(entry?.visitor || frame.author, t);
        const title = frame.seq === 1 ? t("notify.newConversation") : t("notify.newMessage", { name: bidiText(name) });
        notify(title, frame.body, () => {
          openConversation(frame.conversation_id);
          showPane("conversation");
        });
        if (frame.seq === 1) announce(t("notify.newConversation"));
      }
      scheduleRefresh();
      break;
    }
    case "conversation": {
      const entry = state.entries.get(frame.conversation_id);
      if (entry) {
        Object.assign(entry, {
          status: frame.status,
          assignee_id: frame.assignee_id,
          team_id: frame.team_id,
          last_seq: frame.last_seq,
        });
        changed("inbox");
      }
      scheduleRefresh();
      break;
    }
    case "presence":
      state.presence.set(frame.agent_id, frame.status);
      if (!state.agents.has(frame.agent_id)) scheduleAgents();
      changed("team");
      break;
    case "tags": {
      const entry = state.entries.get(frame.conversation_id);
      if (entry) entry.tags = frame.tags;
      changed("inbox");
      break;
    }
    case "visitor": {
      for (const entry of state.entries.values()) {
        if (entry.visitor.id === frame.visitor.id) {
          Object.assign(entry.visitor, {
            name: frame.visitor.name,
            email: frame.visitor.email,
            external_id: frame.visitor.external_id,
          });
        }
      }
      changed("inbox");
      break;
    }
    case "error":
      if (frame.code !== "conversation_not_found") toast(frame.message || t("error.generic"));
      break;
    default:
      break;
  }
  conversationFrame(frame);
}

// -- boot ------------------------------------------------------------------------------------

async function boot() {
  try {
    const session = await get("/api/session");
    await start(session);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showSignIn("", await noAgentYet());
    else showSignIn(t("signin.error"));
  }
}

boot();
