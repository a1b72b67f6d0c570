// One conversation: its header and actions, the live transcript with notes and receipts,
// the composer (replies, private notes, canned responses), and the visitor's details: who,
// where from (the page, and the campaign whose invitation it answered) and how it rated the
// conversation (live, from the agent socket's csat frames). Every piece of user text goes in
// through bidi(), linkified() or bidiText() (see dom.js).

import { get, post, del } from "./api.js";
import { canUseCampaigns, campaignsHash } from "./campaigns.js";
import { avatar, bidi, bidiText, clear, h, link, linkified } from "./dom.js";
import { dateTimeLabel, t, timeLabel, tNodes } from "./i18n.js";
import { backPane, conversationClosed, showDetails } from "./panes.js";
import { visitorPrivacyCard } from "./privacy-visitor.js";
import { agentName, changed, me, state, teamName, visitorName } from "./state.js";

let ctx = null;
let main = null;
let aside = null; // the details' body, under their head (a back button where they are a pane)
let parts = null; // the DOM of the open conversation
let typingSentAt = 0;
let typingTimer = null;
let ratingBox = null; // the details' rating card
let shown = true; // false while another section (Campaigns, Satisfaction) replaces this one
const ratings = new Map(); // conversation id -> the score its visitor gave, once known

/** The score a conversation was rated, if this console has seen it (for the inbox list). */
export function ratingOf(id) {
  return ratings.get(id) ?? null;
}

/** Another section replaces the conversation: its details leave the page (a blind review
 * must not hold an arm anywhere in the DOM), and come back with it. */
export function setConversationShown(value) {
  shown = value;
  if (!shown) clear(aside);
  else if (state.detail && parts) drawDetails();
  else drawNoDetails();
}

export function mountConversation(mainEl, detailsEl, context) {
  ctx = context;
  main = mainEl;
  aside = h("div", { class: "details-body" });
  clear(
    detailsEl,
    h(
      "div",
      { class: "details-head" },
      h(
        "button",
        { type: "button", class: "btn ghost small details-back", "aria-label": t("pane.toConversation"), onclick: backPane },
        h("span", { "aria-hidden": "true" }, "← "),
        t("pane.conversation"),
      ),
      h("h2", { class: "details-title", tabindex: "-1" }, t("details.title")),
    ),
    aside,
  );
  renderEmpty();
  document.addEventListener("visibilitychange", markRead);
}

function renderEmpty() {
  parts = null;
  clear(
    main,
    h(
      "div",
      { class: "empty-state" },
      h("div", { class: "empty-art", "aria-hidden": "true" }),
      h("h2", {}, t("conv.none")),
      h("p", { class: "muted" }, t("conv.noneHint")),
    ),
  );
  drawNoDetails();
  conversationClosed();
}

/** The details column with no conversation open says what it will show. */
function drawNoDetails() {
  clear(
    aside,
    h(
      "div",
      { class: "details-empty" },
      h("div", { class: "empty-art small", "aria-hidden": "true" }),
      h("h2", {}, t("details.title")),
      h("p", { class: "muted" }, t("details.empty")),
    ),
  );
}

export async function openConversation(id, { quiet = false } = {}) {
  const sameOne = state.openId === id && parts !== null;
  state.openId = id;
  changed("inbox");
  let detail;
  try {
    detail = await get(`/api/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) {
      state.openId = null;
      renderEmpty();
      return;
    }
    ctx.handleError(err);
    return;
  }
  if (state.openId !== id) return; // another one was opened meanwhile
  const known = state.entries.get(id);
  const entry = known ? Object.assign(known, detail.conversation) : detail.conversation;
  state.entries.set(id, entry);
  state.detail = {
    conversation: entry,
    visitor: detail.visitor,
    messages: new Map(detail.messages.map((m) => [m.seq, m])),
    notes: detail.notes,
    reads: new Map(detail.reads.map((r) => [r.reader.id, r])),
    campaign: detail.campaign ?? null,
    csat: detail.csat ?? null,
    email: detail.email ?? null,
  };
  if (detail.csat) rated(id, detail.csat.score);
  state.typing = null;
  if (!(quiet && sameOne)) build();
  drawHeader();
  drawTranscript(true);
  drawComposerState();
  drawDetails();
  markRead();
  if (!quiet) (parts.input.disabled ? parts.header.querySelector("#conv-name") : parts.input).focus();
}

function build() {
  const header = h("header", { class: "conv-head" });
  const log = h("div", { class: "transcript", role: "log", "aria-label": t("conv.transcript"), tabindex: "0" });
  const typing = h("div", { class: "typing", "aria-live": "polite" });
  // where it came from and its rating, for screens too narrow for the details panel
  const summary = h("p", { class: "conv-summary", hidden: true });
  const composer = buildComposer();
  clear(main, header, summary, log, typing, composer.form);
  parts = { header, summary, log, typing, ...composer };
}

// -- header and actions ----------------------------------------------------------------------

function drawHeader() {
  const conv = state.detail.conversation;
  const mine = me();
  const name = visitorName(state.detail.visitor, t);
  let owner;
  if (conv.status === "resolved") owner = t("conv.resolved");
  else if (conv.assignee_id) owner = tNodes("conv.assignee", { name: conv.assignee_id === mine.id ? t("conv.you") : bidi(agentName(conv.assignee_id)) });
  else if (conv.team_id) owner = tNodes("conv.teamQueue", { team: bidi(teamName(conv.team_id)) });
  else owner = t("conv.unassigned");
  const actions = [];
  const act = (label, cls, fn) =>
    h("button", { type: "button", class: `btn ${cls}`, onclick: () => run(fn) }, label);
  if (conv.status === "open") {
    if (!conv.assignee_id) actions.push(act(t("conv.claim"), "primary", () => post(path("claim"))));
    if (conv.assignee_id && (conv.assignee_id === mine.id || mine.role === "admin")) {
      actions.push(act(t("conv.unassign"), "ghost", () => post(path("unassign"))));
    }
    actions.push(act(t("conv.transfer"), "ghost", openTransfer));
    actions.push(act(t("conv.resolve"), "success", () => post(path("resolve"))));
  } else {
    actions.push(act(t("conv.reopen"), "primary", () => post(path("reopen"))));
  }
  // where the inbox is not beside it, a back button; where the details are not, a button to
  // them (the stylesheet shows each where it is needed)
  clear(
    parts.header,
    h(
      "button",
      { type: "button", class: "btn ghost conv-back", "aria-label": t("pane.toInbox"), onclick: backPane },
      h("span", { "aria-hidden": "true" }, "←"),
    ),
    avatar(name, state.detail.visitor.id),
    h(
      "div",
      { class: "conv-title" },
      h("h2", { id: "conv-name", tabindex: "-1" }, bidi(name)),
      h("p", { class: "muted conv-owner" }, owner, state.session.spaces.length > 1 ? [" · ", bidi(conv.space)] : ""),
    ),
    h("button", { type: "button", class: "btn ghost small show-details", "aria-controls": "details", onclick: showDetails }, t("pane.details")),
    h("div", { class: "conv-actions" }, actions),
  );
}

function path(action) {
  return `/api/conversations/${encodeURIComponent(state.openId)}/${action}`;
}

async function run(fn) {
  try {
    const result = await fn();
    if (result && result.id === state.openId) {
      Object.assign(state.detail.conversation, result);
      drawHeader();
      drawComposerState();
      drawDetails();
    }
    ctx.scheduleRefresh();
  } catch (err) {
    ctx.handleError(err);
  }
}

function openTransfer() {
  const conv = state.detail.conversation;
  const agents = [...state.agents.values()].filter(
    (a) => a.spaces.includes(conv.space) && a.id !== conv.assignee_id,
  );
  const teams = state.teams.filter((team) => team.space_id === conv.space_id);
  const agentSelect = h(
    "select",
    { id: "transfer-agent" },
    h("option", { value: "" }, t("transfer.choose")),
    agents.map((a) => h("option", { value: a.id }, `${bidiText(a.name)} · ${t(`status.${state.presence.get(a.id) || "offline"}`)}`)),
  );
  const teamSelect = h(
    "select",
    { id: "transfer-team" },
    h("option", { value: "" }, t("transfer.choose")),
    teams.map((team) => h("option", { value: team.id }, bidiText(team.name))),
  );
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "transfer-title" });
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: "transfer-title" }, t("transfer.title")),
    h("label", { for: "transfer-agent" }, t("transfer.agent")),
    agentSelect,
    h("label", { for: "transfer-team" }, t("transfer.team")),
    teamSelect,
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { type: "button", class: "btn ghost", onclick: () => dialog.close() }, t("common.cancel")),
      h("button", { type: "submit", class: "btn primary" }, t("transfer.submit")),
    ),
  );
  agentSelect.addEventListener("change", () => agentSelect.value && (teamSelect.value = ""));
  teamSelect.addEventListener("change", () => teamSelect.value && (agentSelect.value = ""));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = agentSelect.value ? { agent_id: agentSelect.value } : teamSelect.value ? { team_id: teamSelect.value } : null;
    dialog.close();
    if (body) run(() => post(path("transfer"), body));
  });
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  agentSelect.focus();
}

// -- the transcript --------------------------------------------------------------------------

function drawTranscript(force = false) {
  if (!parts) return;
  const log = parts.log;
  const nearBottom = force || log.scrollHeight - log.scrollTop - log.clientHeight < 120;
  const mine = me();
  const items = [
    ...[...state.detail.messages.values()].map((m) => ({ at: m.created_at, seq: m.seq, kind: "message", m })),
    ...state.detail.notes.map((n) => ({ at: n.created_at, seq: Infinity, kind: "note", m: n })),
  ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq));
  const visitorRead = [...state.detail.reads.values()]
    .filter((r) => r.reader.kind === "visitor")
    .reduce((max, r) => Math.max(max, r.seq), 0);
  const lastAgentSeq = Math.max(
    0,
    ...[...state.detail.messages.values()].filter((m) => m.author.kind === "agent").map((m) => m.seq),
  );
  const nodes = items.map(({ kind, m }) => {
    if (kind === "note") {
      return h(
        "div",
        { class: "note", dataset: { noteId: m.id } },
        h("div", { class: "note-head" }, h("span", { class: "lock", "aria-hidden": "true" }), t("conv.note"), " · ", bidi(m.author.name || ""), " · ", timeLabel(m.created_at)),
        h("div", { class: "note-body" }, linkified(m.body)),
      );
    }
    const fromAgent = m.author.kind === "agent";
    const who = fromAgent ? (m.author.id === mine.id ? t("conv.you") : m.author.name || "") : visitorName(state.detail.visitor, t);
    const seen = fromAgent && m.seq === lastAgentSeq && visitorRead >= m.seq;
    return h(
      "div",
      { class: `msg ${fromAgent ? "out" : "in"}`, dataset: { seq: m.seq } },
      fromAgent ? null : avatar(who, state.detail.visitor.id, "small"),
      h(
        "div",
        { class: "msg-col" },
        h("div", { class: "bubble" }, linkified(m.body)),
        h("div", { class: "msg-meta" }, bidi(who), " · ", h("time", { datetime: m.created_at }, timeLabel(m.created_at)), seen ? h("span", { class: "seen" }, ` · ${t("conv.seen")}`) : null),
      ),
    );
  });
  for (const [clientId, p] of state.pending) {
    if (p.conversation_id !== state.openId) continue;
    nodes.push(
      h(
        "div",
        { class: "msg out pending", dataset: { clientId } },
        h("div", { class: "msg-col" }, h("div", { class: "bubble" }, linkified(p.body)), h("div", { class: "msg-meta" }, t("conv.sending"))),
      ),
    );
  }
  clear(log, nodes);
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

function drawTyping() {
  if (!parts) return;
  const typing = state.typing;
  const active = typing && typing.conversation_id === state.openId && typing.until > Date.now();
  clear(parts.typing, active ? tNodes("conv.typing", { name: bidi(typing.name) }) : null);
}

function markRead() {
  if (document.hidden || !state.detail || !state.openId) return;
  const last = Math.max(0, ...state.detail.messages.keys());
  const mine = state.detail.reads.get(me().id)?.seq || 0;
  const entry = state.entries.get(state.openId);
  if (entry && entry.unread) {
    entry.unread = 0;
    changed("inbox");
  }
  if (last > mine) {
    state.detail.reads.set(me().id, { reader: { kind: "agent", id: me().id }, seq: last });
    ctx.send({ type: "read", conversation_id: state.openId, seq: last });
  }
}

// -- the composer ----------------------------------------------------------------------------

function buildComposer() {
  const input = h("textarea", {
    id: "composer-input",
    rows: "3",
    "aria-autocomplete": "list",
    "aria-controls": "canned-list",
    "aria-describedby": "composer-hint",
  });
  const label = h("label", { for: "composer-input", class: "visually-hidden" }, t("composer.message"));
  const submit = h("button", { type: "submit", class: "btn primary" }, t("composer.send"));
  const hint = h("span", { id: "composer-hint", class: "muted small" }, t("composer.hint"));
  const suggestions = h("ul", { id: "canned-list", role: "listbox", class: "canned", hidden: true, "aria-label": t("composer.canned") });
  const modeButtons = ["reply", "note"].map((mode) =>
    h(
      "button",
      {
        type: "button",
        class: `seg mode-${mode}`,
        dataset: { mode },
        "aria-pressed": String(state.mode === mode),
        onclick: () => setMode(mode),
      },
      t(`composer.${mode}`),
    ),
  );
  const notice = h("p", { class: "composer-notice", hidden: true }, t("composer.resolved"));
  const form = h(
    "form",
    { class: "composer" },
    notice,
    h("div", { class: "composer-top" }, h("div", { class: "segmented", role: "group", "aria-label": t("composer.mode") }, modeButtons)),
    suggestions,
    label,
    input,
    h("div", { class: "composer-foot" }, hint, submit),
  );
  let matches = [];
  let active = 0;

  const drawSuggestions = () => {
    const text = input.value;
    const query = /^\/([\w-]*)$/.exec(text);
    matches = query ? state.canned.filter((c) => c.shortcut.startsWith(query[1].toLowerCase())).slice(0, 8) : [];
    if (!matches.length) {
      suggestions.hidden = true;
      input.removeAttribute("aria-activedescendant");
      input.setAttribute("aria-expanded", "false");
      return;
    }
    active = Math.min(active, matches.length - 1);
    clear(
      suggestions,
      matches.map((c, i) =>
        h(
          "li",
          {
            id: `canned-${i}`,
            role: "option",
            "aria-selected": String(i === active),
            class: i === active ? "active" : "",
            onmousedown: (event) => {
              event.preventDefault();
              insert(c);
            },
          },
          h("strong", {}, "/", bidi(c.shortcut)),
          h("span", { class: "muted" }, bidi(c.body)),
        ),
      ),
    );
    suggestions.hidden = false;
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-activedescendant", `canned-${active}`);
  };
  const insert = (canned) => {
    input.value = canned.body;
    matches = [];
    drawSuggestions();
    input.focus();
  };
  input.addEventListener("input", () => {
    active = 0;
    drawSuggestions();
    if (state.mode === "reply" && Date.now() - typingSentAt > 2500 && input.value.trim()) {
      typingSentAt = Date.now();
      ctx.send({ type: "typing", conversation_id: state.openId });
    }
  });
  input.addEventListener("keydown", (event) => {
    if (matches.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
        drawSuggestions();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        insert(matches[active]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        matches = [];
        suggestions.hidden = true;
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (!body.trim() || state.detail?.conversation.status !== "open") return;
    if (state.mode === "note") {
      addNote(body, input);
      return;
    }
    const clientId = crypto.randomUUID();
    state.pending.set(clientId, { conversation_id: state.openId, body, created_at: new Date().toISOString() });
    ctx.send({ type: "message", client_id: clientId, conversation_id: state.openId, body });
    input.value = "";
    drawTranscript(true);
  });
  return { form, input, label, submit, hint, modeButtons, notice };
}

async function addNote(body, input) {
  try {
    const note = await post(path("notes"), { body });
    input.value = "";
    if (!state.detail.notes.some((n) => n.id === note.id)) state.detail.notes.push(note);
    drawTranscript(true);
  } catch (err) {
    ctx.handleError(err);
  }
}

function setMode(mode) {
  state.mode = mode;
  drawComposerState();
  parts.input.focus();
}

function drawComposerState() {
  if (!parts) return;
  const open = state.detail.conversation.status === "open";
  const note = state.mode === "note";
  for (const b of parts.modeButtons) b.setAttribute("aria-pressed", String(b.dataset.mode === state.mode));
  parts.form.classList.toggle("note-mode", note);
  parts.label.textContent = note ? t("composer.noteLabel") : t("composer.message");
  parts.input.placeholder = note ? t("composer.noteHint") : t("composer.message") + "…";
  parts.submit.textContent = note ? t("composer.addNote") : t("composer.send");
  parts.input.disabled = !open;
  parts.submit.disabled = !open;
  parts.notice.hidden = open;
}

// -- details ---------------------------------------------------------------------------------

function drawDetails() {
  if (!shown || !state.detail) return;
  const { visitor, conversation: conv } = state.detail;
  const context = visitor.context || {};
  const attributes = Object.entries(visitor.attributes || {});
  // a value given as a string is the visitor's (or the server's): isolated
  const row = (label, value) =>
    value === undefined || value === null || value === ""
      ? null
      : h("div", { class: "kv" }, h("dt", {}, label), h("dd", {}, typeof value === "string" ? bidi(value) : value));
  const tagInput = h("input", { id: "tag-input", maxlength: "40", autocomplete: "off", placeholder: t("details.addTag") });
  const tagForm = h(
    "form",
    { class: "tag-form" },
    h("label", { for: "tag-input", class: "visually-hidden" }, t("details.addTag")),
    tagInput,
    h("button", { type: "submit", class: "btn ghost small" }, t("common.add")),
  );
  tagForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tag = tagInput.value.trim();
    if (!tag) return;
    try {
      const result = await post(path("tags"), { tag });
      conv.tags = result.tags;
      drawDetails();
      document.getElementById("tag-input")?.focus();
      ctx.scheduleRefresh();
    } catch (err) {
      ctx.handleError(err);
    }
  });
  const name = visitorName(visitor, t);
  clear(
    aside,
    h(
      "section",
      { class: "card visitor-card" },
      avatar(name, visitor.id, "large"),
      h("h2", {}, bidi(name)),
      visitor.email ? h("p", { class: "muted" }, bidi(visitor.email)) : null,
      emailLine(),
      h(
        "dl",
        {},
        row(t("details.externalId"), visitor.external_id ? [bidi(visitor.external_id), visitor.verified ? h("span", { class: "verified", title: t("details.verified") }, " ✓") : null] : null),
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h3", {}, t("details.context")),
      context.url || context.referrer || context.locale || context.user_agent || state.detail.campaign
        ? h(
            "dl",
            {},
            row(t("details.campaign"), campaignOrigin()),
            row(t("details.page"), context.url ? [context.title ? h("span", { class: "page-title" }, bidi(context.title)) : null, link(context.url)] : null),
            row(t("details.referrer"), context.referrer ? link(context.referrer) : null),
            row(t("details.locale"), context.locale),
            row(t("details.agent"), context.user_agent),
          )
        : h("p", { class: "muted" }, t("details.none")),
    ),
    (ratingBox = h("section", { class: "card rating-card", "aria-live": "polite" })),
    h(
      "section",
      { class: "card" },
      h("h3", {}, t("details.attributes")),
      attributes.length
        ? h("dl", { class: "attributes" }, attributes.map(([k, v]) => row(bidi(k), typeof v === "object" ? JSON.stringify(v) : String(v))))
        : h("p", { class: "muted" }, t("details.none")),
    ),
    h(
      "section",
      { class: "card" },
      h("h3", {}, t("details.tags")),
      h(
        "ul",
        { class: "tags" },
        conv.tags.map((tag) =>
          h(
            "li",
            { class: "chip" },
            bidi(tag),
            h(
              "button",
              {
                type: "button",
                class: "chip-x",
                "aria-label": t("details.removeTag", { tag }),
                onclick: async () => {
                  try {
                    conv.tags = (await del(`${path("tags")}/${encodeURIComponent(tag)}`)).tags;
                    drawDetails();
                    ctx.scheduleRefresh();
                  } catch (err) {
                    ctx.handleError(err);
                  }
                },
              },
              "×",
            ),
          ),
        ),
      ),
      tagForm,
    ),
    h(
      "section",
      { class: "card" },
      h("h3", {}, t("details.conversation")),
      h("dl", {}, row(t("details.space"), conv.space), row(t("details.started"), dateTimeLabel(conv.created_at))),
    ),
    visitorPrivacyCard(visitor, name, {
      handleError: ctx.handleError,
      erased: () => {
        openConversation(conv.id, { quiet: true }); // the anonymous profile, no messages
        ctx.scheduleRefresh();
      },
    }),
  );
  drawRating();
}

/** "Delivery nudge — arm b, phase 1": the campaign whose invitation the visitor answered, a
 * link to its results for those who may read them (marketing, admin), text for the others. */
function campaignOrigin() {
  const campaign = state.detail.campaign;
  if (!campaign) return null;
  const name = campaign.name ? bidi(campaign.name) : t("details.campaignGone");
  return h(
    "span",
    { class: "origin" },
    canUseCampaigns() && campaign.name
      ? h("a", { href: campaignsHash(campaign.id, "results"), class: "origin-link" }, name)
      : h("span", { class: "origin-name" }, name),
    h("span", { class: "muted origin-arm" }, " — ", tNodes("details.campaignArm", { arm: bidi(campaign.arm), phase: campaign.phase })),
  );
}

/** Whether the replies reached the visitor who left by email: due, sent, or failed (why, in
 * the mail server's words). */
function emailLine() {
  const email = state.detail.email;
  if (!email) return null;
  if (email.status === "failed")
    return h("p", { class: "mail-status danger-text", role: "status" }, t("details.mailFailed"), email.error ? [" ", bidi(email.error)] : null);
  if (email.status === "sent") return h("p", { class: "mail-status muted" }, t("details.mailSent", { time: dateTimeLabel(email.sent_at) }));
  return h("p", { class: "mail-status muted" }, email.error ? t("details.mailRetrying") : t("details.mailDue", { time: dateTimeLabel(email.due_at) }));
}

const STARS = 5;

/** The visitor's rating: the score of 5 (stars drawn, the figure said), its comment as text,
 * when, and for whom (the last agent who replied). Drawn alone when it arrives live, so that
 * nothing typed in the panel is lost. */
function drawRating() {
  drawSummary();
  if (!shown || !state.detail || !ratingBox?.isConnected) return;
  const { csat, conversation: conv } = state.detail;
  const body = csat
    ? [
        h(
          "p",
          { class: `rating r-${csat.score}` },
          h("span", { class: "stars", "aria-hidden": "true" }, "★".repeat(csat.score), h("span", { class: "stars-off" }, "★".repeat(STARS - csat.score))),
          h("strong", { class: "rating-score" }, t("details.ratingScore", { score: csat.score, of: STARS })),
        ),
        csat.comment ? h("blockquote", { class: "rating-comment" }, bidi(csat.comment)) : null,
        h(
          "p",
          { class: "muted small rating-meta" },
          csat.at ? h("time", { datetime: csat.at }, dateTimeLabel(csat.at)) : null,
          csat.at && csat.agent_id ? " · " : null,
          csat.agent_id === me().id ? t("details.ratingForYou") : null,
          csat.agent_id && csat.agent_id !== me().id ? tNodes("details.ratingFor", { name: bidi(agentName(csat.agent_id) || t("details.formerAgent")) }) : null,
        ),
      ]
    : h("p", { class: "muted" }, t("details.notRated"));
  // an open conversation is rated once resolved: until then, nothing to show
  ratingBox.hidden = !csat && conv.status !== "resolved";
  clear(ratingBox, h("h3", {}, t("details.rating")), body);
}

/** The campaign's name and the rating on one line, above the transcript; the stylesheet shows
 * it only where the details panel is hidden. */
function drawSummary() {
  if (!parts?.summary || !state.detail) return;
  const { campaign, csat } = state.detail;
  const bits = [];
  if (campaign) {
    const name = campaign.name ? bidi(campaign.name) : t("details.campaignGone");
    bits.push(
      h(
        "span",
        {},
        t("details.campaign"),
        " ",
        canUseCampaigns() && campaign.name ? h("a", { href: campaignsHash(campaign.id, "results") }, name) : h("strong", {}, name),
      ),
    );
  }
  if (csat) bits.push(h("span", { class: "summary-rating" }, h("span", { class: "stars", "aria-hidden": "true" }, "★ "), t("details.ratingLine", { score: csat.score, of: STARS })));
  parts.summary.hidden = !bits.length;
  clear(parts.summary, bits.map((bit, i) => (i ? [" · ", bit] : bit)));
}

function rated(id, score) {
  if (score === null || score === undefined || ratings.get(id) === score) return;
  ratings.set(id, score);
  changed("inbox");
}

/** The rating as the server keeps it (its time, the agent it counts for), after a live frame. */
async function refreshRating(id) {
  try {
    const detail = await get(`/api/conversations/${encodeURIComponent(id)}`);
    if (state.openId !== id || !state.detail || !detail.csat) return;
    state.detail.csat = detail.csat;
    drawRating();
  } catch {
    // the frame's figures stay on screen
  }
}

// -- live frames -----------------------------------------------------------------------------

export function receive(frame) {
  const open = state.detail && frame.conversation_id === state.openId;
  switch (frame.type) {
    case "ack": {
      const p = state.pending.get(frame.client_id);
      if (!p) break;
      state.pending.delete(frame.client_id);
      const mine = me();
      const message = {
        type: "message",
        conversation_id: frame.conversation_id,
        seq: frame.seq,
        id: frame.id,
        client_id: frame.client_id,
        author: { kind: "agent", id: mine.id, name: mine.name },
        body: p.body,
        created_at: p.created_at,
      };
      const entry = state.entries.get(frame.conversation_id);
      if (entry) {
        entry.last_message = { body: p.body, author_kind: "agent", created_at: p.created_at };
        entry.last_seq = Math.max(entry.last_seq, frame.seq);
        changed("inbox");
      }
      if (state.detail && frame.conversation_id === state.openId) {
        state.detail.messages.set(frame.seq, message);
        drawTranscript(true);
      }
      ctx.scheduleRefresh();
      break;
    }
    case "error":
      if (frame.ref && state.pending.has(frame.ref)) {
        state.pending.delete(frame.ref);
        drawTranscript();
      }
      break;
    case "message":
      if (!open) break;
      state.detail.messages.set(frame.seq, frame);
      if (frame.author.kind === "visitor" && state.typing) state.typing = null;
      drawTyping();
      drawTranscript();
      markRead();
      break;
    case "note":
      if (open && !state.detail.notes.some((n) => n.id === frame.note.id)) {
        state.detail.notes.push(frame.note);
        drawTranscript();
      }
      break;
    case "conversation":
      if (!open) break;
      Object.assign(state.detail.conversation, {
        status: frame.status,
        assignee_id: frame.assignee_id,
        team_id: frame.team_id,
      });
      drawHeader();
      drawComposerState();
      drawRating();
      break;
    case "tags":
      if (!open) break;
      state.detail.conversation.tags = frame.tags;
      drawDetails();
      break;
    case "read":
      if (!open) break;
      state.detail.reads.set(frame.reader.id, { reader: frame.reader, seq: frame.seq, at: frame.at });
      drawTranscript();
      break;
    case "typing":
      if (!open || frame.author.kind !== "visitor") break;
      state.typing = {
        conversation_id: frame.conversation_id,
        name: visitorName(state.detail.visitor, t),
        until: Date.now() + 5000,
      };
      drawTyping();
      clearTimeout(typingTimer);
      typingTimer = setTimeout(drawTyping, 5100);
      break;
    case "csat":
      // score null: the visitor was asked; a score: it has just rated the conversation
      if (frame.score === null || frame.score === undefined) break;
      rated(frame.conversation_id, frame.score);
      if (!open) break;
      state.detail.csat = { score: frame.score, comment: frame.comment ?? null, at: new Date().toISOString(), agent_id: state.detail.csat?.agent_id ?? null };
      drawRating();
      refreshRating(frame.conversation_id);
      break;
    case "visitor":
      if (state.detail && frame.visitor.id === state.detail.visitor.id) {
        state.detail.visitor = frame.visitor;
        drawHeader();
        drawDetails();
      }
      break;
    default:
      break;
  }
}
