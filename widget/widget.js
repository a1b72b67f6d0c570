/*! causette widget: <script src="https://CHAT-HOST/widget.js" data-space="KEY" async></script>
 * Plain ES2020, no dependencies, no build. Everything lives in an open shadow root styled by a
 * constructable stylesheet (so a host page with CSP style-src 'self' is fine); the only global
 * is window.Causette. Protocol v1: see docs/protocol.md.
 * One file in parts, each using only those above it: configuration and strings, storage, the
 * campaign rules (pure functions), the link policy and the protocol client (the only code that
 * touches the WebSocket), the view (DOM, rendering, messages, forms), campaigns and ratings,
 * the public API, the look. */
(() => {
  "use strict";
  const W = window;
  const D = document;
  const queued = W.Causette;
  if (queued && queued.version) return; // loaded twice
  const script = D.currentScript;
  if (!script || !script.src) return;

  // -- configuration ---------------------------------------------------------------------
  const SPACE = script.dataset.space || "default";
  const BASE = new URL(script.src, location.href).origin;
  const WS_URL = BASE.replace(/^http/, "ws") + "/ws/visitor?space=" + encodeURIComponent(SPACE);
  const PREFIX = "causette:" + BASE + ":" + SPACE + ":";
  const lang = (script.dataset.lang || D.documentElement.lang || navigator.language || "en")
    .toLowerCase()
    .startsWith("fr")
    ? "fr"
    : "en";
  const T = {
    en: {
      launcher: "Chat with us",
      title: "Chat with us",
      sub: "We usually answer within a few minutes",
      answering: "{name} is answering",
      close: "Close chat",
      message: "Message",
      send: "Send",
      placeholder: "Write a message…",
      log: "Messages",
      reconnecting: "Reconnecting…",
      typing: "{name} is typing…",
      someone: "Someone",
      intro: "Hi! Ask us anything, we're here to help.",
      away: "No one is available right now. Leave your email and a message: we'll get back to you.",
      awayShort: "We're away: we'll reply by email.",
      awayHere: "No one is available right now. Leave a message: we'll get back to you here.",
      awayShortHere: "We're away: leave a message, we'll get back to you here.",
      prechat: "Before we start, tell us who you are.",
      name: "Name",
      email: "Email",
      start: "Start chatting",
      leave: "Send message",
      sending: "Sending…",
      failed: "Not sent",
      seen: "Seen",
      you: "You",
      unavailable: "Chat is not available on this site.",
      resolved: "This conversation is closed. Write again to start a new one.",
      thanks: "Thanks! We'll reply to {email}.",
      thanksHere: "Thanks! We'll get back to you here.",
      required: "Please fill in this field.",
      badEmail: "Please enter a valid email address.",
      unread: "{n} unread",
      invite: "Invitation to chat",
      dismiss: "Close the invitation",
      rate: "How would you rate this conversation?",
      score: "{n} out of 5",
      comment: "Comment (optional)",
      rated: "Thank you for your feedback!",
      noRating: "Close the rating",
    },
    fr: {
      launcher: "Discuter avec nous",
      title: "Discuter avec nous",
      sub: "Nous répondons en général en quelques minutes",
      answering: "{name} vous répond",
      close: "Fermer la discussion",
      message: "Message",
      send: "Envoyer",
      placeholder: "Écrivez votre message…",
      log: "Messages",
      reconnecting: "Reconnexion…",
      typing: "{name} écrit…",
      someone: "Quelqu'un",
      intro: "Bonjour ! Posez-nous vos questions, nous sommes là pour vous aider.",
      away: "Personne n'est disponible pour le moment. Laissez votre e-mail et un message : nous vous répondrons.",
      awayShort: "Nous sommes absents : réponse par e-mail.",
      awayHere: "Personne n'est disponible pour le moment. Laissez un message : nous vous répondrons ici.",
      awayShortHere: "Nous sommes absents : laissez un message, nous vous répondrons ici.",
      prechat: "Avant de commencer, dites-nous qui vous êtes.",
      name: "Nom",
      email: "E-mail",
      start: "Commencer",
      leave: "Envoyer le message",
      sending: "Envoi…",
      failed: "Non envoyé",
      seen: "Lu",
      you: "Vous",
      unavailable: "La discussion n'est pas disponible sur ce site.",
      resolved: "Cette conversation est terminée. Écrivez-nous pour en ouvrir une nouvelle.",
      thanks: "Merci ! Nous vous répondrons à {email}.",
      thanksHere: "Merci ! Nous vous répondrons ici.",
      required: "Ce champ est obligatoire.",
      badEmail: "Saisissez une adresse e-mail valide.",
      unread: "{n} non lus",
      invite: "Invitation à discuter",
      dismiss: "Fermer l'invitation",
      rate: "Comment évalueriez-vous cette conversation ?",
      score: "{n} sur 5",
      comment: "Commentaire (facultatif)",
      rated: "Merci pour votre avis !",
      noRating: "Fermer l'évaluation",
    },
  }[lang];
  const t = (key, vars) => T[key].replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k]) || "");
  // the same line as pieces to append, each {var} as given: user text in its <bdi>
  const tNodes = (key, vars) => T[key].split(/\{(\w+)\}/).map((piece, i) => (i % 2 ? vars[piece] || "" : piece));

  // -- storage: per chat server and space, shared by the site's tabs (localStorage) or this
  // tab's session (sessionStorage) ----------------------------------------------------------
  const makeStore = (area) => {
    const memory = {};
    return {
      get(key) {
        try {
          const raw = W[area].getItem(PREFIX + key);
          return raw ? JSON.parse(raw) : null;
        } catch (_) {
          return memory[key] ?? null;
        }
      },
      set(key, value) {
        memory[key] = value;
        try {
          W[area].setItem(PREFIX + key, JSON.stringify(value));
        } catch (_) {
          /* storage full or blocked: memory only */
        }
      },
      del(key) {
        delete memory[key];
        try {
          W[area].removeItem(PREFIX + key);
        } catch (_) {
          /* blocked */
        }
      },
    };
  };
  const store = makeStore("localStorage");
  const tabStore = makeStore("sessionStorage");

  const uuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  // -- campaign rules: begin
  // A campaign's targeting as agents/campaigns/rules.py defines it, in pure functions:
  // evaluateRule(rule, facts) and urlMatches(pattern, url) (tests/widget/rules_cases.json
  // holds the cases both must agree on).
  const RULE_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
  const listed = (v) => (Array.isArray(v) ? v : [v]);
  const own = (obj, key) => (obj && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined);
  // "*" is any run of characters, anchored at both ends: each literal piece at its first
  // place, which is right for stars alone, so no backtracking
  const glob = (pattern, text) => {
    const pieces = pattern.split("*");
    if (pieces.length === 1) return pattern === text;
    const head = pieces[0];
    const tail = pieces[pieces.length - 1];
    const end = text.length - tail.length;
    if (end < head.length || !text.startsWith(head) || !text.endsWith(tail)) return false;
    let at = head.length;
    for (const piece of pieces.slice(1, -1)) {
      const found = text.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
  // [scheme://host in lower case, path, "?query" or ""], the fragment dropped
  const urlParts = (url, bare) => {
    url = url.split("#")[0];
    const q = url.indexOf("?");
    const rest = q < 0 ? url : url.slice(0, q);
    const scheme = rest.indexOf("://");
    const slash = rest.indexOf("/", scheme < 0 ? 0 : scheme + 3);
    return [
      (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase(),
      slash >= 0 ? rest.slice(slash) : scheme >= 0 ? bare : "",
      q < 0 ? "" : url.slice(q),
    ];
  };
  const urlMatches = (pattern, url) => {
    const [origin, path, query] = urlParts(String(url || ""), "/");
    const relative = pattern.startsWith("/");
    const target = relative ? pattern.split("#")[0] : urlParts(pattern, "").join("");
    const subject = relative ? path : origin + path;
    return glob(target, pattern.includes("?") ? subject + query : subject);
  };
  // the date, day (0: Sunday) and minute of the day in a time zone (an unknown one: UTC)
  const localTime = (now, timeZone) => {
    const opts = { weekday: "short", year: "numeric", month: "2-digit", day: "2-digit", hourCycle: "h23" };
    opts.hour = opts.minute = "2-digit";
    let format;
    try {
      format = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: timeZone || "UTC" });
    } catch (_) {
      format = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: "UTC" });
    }
    const p = {};
    for (const part of format.formatToParts(new Date(now))) p[part.type] = part.value;
    const day = RULE_DAYS.indexOf(p.weekday.toLowerCase());
    return { date: `${p.year}-${p.month}-${p.day}`, day, minute: p.hour * 60 + +p.minute };
  };
  const minutes = (hhmm) => hhmm.slice(0, 2) * 60 + +hhmm.slice(3);
  const RULE_TESTS = {
    all: (v, f) => v.every((r) => evaluateRule(r, f)),
    any: (v, f) => v.some((r) => evaluateRule(r, f)),
    not: (v, f) => !evaluateRule(v, f),
    url: (v, f) => listed(v).some((p) => urlMatches(p, f.url)),
    referrer: (v, f) => listed(v).some((p) => urlMatches(p, f.referrer)),
    param: (v, f, r) => {
      const x = own(f.params, v);
      return x != null && ("equals" in r ? x === r.equals : !("in" in r) || r.in.includes(x));
    },
    time_on_page: (v, f) => f.time_on_page >= v,
    time_on_site: (v, f) => f.time_on_site >= v,
    scroll: (v, f) => f.scroll >= v,
    exit_intent: (v, f) => f.exit_intent === true,
    pages_viewed: (v, f) => f.pages_viewed >= v,
    visitor: (v, f) => !!f.returning === (v === "returning"),
    language: (v, f) => {
      const mine = String(f.language || "").toLowerCase();
      return listed(v).some((tag) => [mine, mine.split("-")[0]].includes(tag.toLowerCase()));
    },
    device: (v, f) => listed(v).includes(f.device),
    attribute: (v, f, r) => {
      const x = own(f.attributes, v);
      if (x == null) return false;
      if ("equals" in r) return x === r.equals;
      if ("not_equals" in r) return x !== r.not_equals;
      if ("in" in r) return r.in.includes(x);
      if ("contains" in r) return typeof x === "string" && x.includes(r.contains);
      const n = typeof x === "number";
      if ("gt" in r) return n && x > r.gt;
      if ("gte" in r) return n && x >= r.gte;
      if ("lt" in r) return n && x < r.lt;
      if ("lte" in r) return n && x <= r.lte;
      return true;
    },
    event: (v, f, r) => (own(f.events, v) || 0) >= ("count" in r ? r.count : 1),
    dates: (v, f) => {
      const today = localTime(f.now, f.time_zone).date;
      return (!v.from || v.from <= today) && (!v.to || today <= v.to);
    },
    // from inclusive, to exclusive; a "to" not after "from" ends the next day
    hours: (v, f) => {
      const now = localTime(f.now, f.time_zone);
      const from = minutes(v.from);
      const to = minutes(v.to);
      const on = (day) => !v.days || v.days.includes(RULE_DAYS[(day + 7) % 7]);
      return from < to
        ? on(now.day) && from <= now.minute && now.minute < to
        : (on(now.day) && now.minute >= from) || (on(now.day - 1) && now.minute < to);
    },
    agents_online: (v, f) => f.agents_online === v,
  };
  function evaluateRule(rule, facts) {
    for (const key in rule) if (own(RULE_TESTS, key)) return RULE_TESTS[key](rule[key], facts, rule);
    return false;
  }
  // -- campaign rules: end

  const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
  const LINK = /\bhttps?:\/\/[^\s<>"'\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+/gi; // a bidi control ends it

  // -- state -----------------------------------------------------------------------------
  let session = store.get("session"); // {token, visitor_id, identity}
  let outbox = store.get("outbox") || []; // [{client_id, body, at}] until acked
  let read = store.get("read") || {}; // conversation id -> last seq the visitor saw
  let profile = store.get("profile") || {}; // {name, email} the visitor typed in
  let conversation = store.get("conversation"); // the latest conversation id
  const seen = {}; // conversation id -> highest seq received on this page (for resume)
  const hidden = new Set(); // an older conversation replayed while a newer one is open
  const rows = new Map(); // "conv:seq" or client_id -> element
  // -- link policy: begin
  // A ping every `heartbeat` seconds (the server gives it in its welcome), give or take a fifth;
  // a link that answers nothing within `heartbeat` seconds more (10 at most) is dead; then a
  // reconnection after a delay with full jitter, doubling from 0.5 s up to a cap: 5 s while
  // someone is looking at it, 30 s in a background tab.
  const linkPolicy = {
    heartbeat: 25,
    pingDelay: (heartbeat) => heartbeat * 1000 * (0.8 + Math.random() * 0.4),
    deadAfter: (heartbeat) => Math.min(10000, heartbeat * 1000),
    reconnectDelay: (attempt, watched) =>
      250 + Math.random() * Math.min(watched ? 5000 : 30000, 500 * 2 ** Math.min(attempt, 6)),
  };
  // -- link policy: end

  // -- the protocol client: one socket at a time, its hello, the link policy ----------------
  // The client alone touches the WebSocket, its timers and its retries; the view tells it how
  // to prepare (a token) and say hello, and hears every frame and every close.
  const createClient = (view) => {
    let sock = null;
    let isReady = false;
    let connecting = false;
    let attempt = 0;
    let beat = linkPolicy.heartbeat;
    let retryTimer = 0;
    let pingTimer = 0;
    let watchdog = 0;
    const drop = () => {
      const old = sock;
      sock = null;
      isReady = false;
      clearTimeout(pingTimer);
      clearTimeout(watchdog);
      watchdog = 0;
      if (old) {
        old.onclose = old.onmessage = old.onopen = null;
        try {
          old.close();
        } catch (_) {
          /* already closed */
        }
      }
    };
    const retry = () => {
      if (view.stopped() || retryTimer) return;
      view.status("reconnecting");
      retryTimer = setTimeout(
        () => {
          retryTimer = 0;
          connect();
        },
        linkPolicy.reconnectDelay(attempt++, view.watched()),
      );
    };
    const ping = () => {
      clearTimeout(pingTimer);
      pingTimer = setTimeout(() => {
        if (!sock || sock.readyState !== 1) return;
        sock.send('{"type":"ping"}');
        // the first unanswered ping counts: a later one does not push the deadline back
        watchdog =
          watchdog ||
          setTimeout(() => {
            drop();
            retry();
          }, linkPolicy.deadAfter(beat));
        ping();
      }, linkPolicy.pingDelay(beat));
    };
    async function connect(now) {
      if (view.stopped() || sock || connecting) return;
      if (retryTimer) {
        if (!now) return;
        clearTimeout(retryTimer);
        retryTimer = 0;
      }
      connecting = true;
      try {
        await view.prepare();
      } catch (err) {
        connecting = false;
        if (err.fatal) view.refused();
        else retry();
        return;
      }
      connecting = false;
      if (view.stopped() || sock) return;
      const s = new WebSocket(view.url);
      sock = s;
      // a handshake that never completes is a dead link too
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        drop();
        retry();
      }, linkPolicy.deadAfter(beat));
      s.onopen = () => {
        s.send(JSON.stringify(view.hello()));
        ping();
      };
      s.onmessage = (e) => {
        clearTimeout(watchdog);
        watchdog = 0;
        let f;
        try {
          f = JSON.parse(e.data);
        } catch (_) {
          return;
        }
        if (f && typeof f === "object") view.frame(f);
      };
      s.onclose = (e) => {
        if (sock !== s) return;
        drop();
        view.closed(e);
        retry();
      };
    }
    return {
      connect,
      send(frame) {
        if (isReady) sock.send(JSON.stringify(frame));
        return isReady;
      },
      welcomed(heartbeat) {
        isReady = true;
        attempt = 0;
        if (heartbeat > 0) beat = heartbeat;
        ping(); // at the server's pace from now on
      },
      stop() {
        drop();
        clearTimeout(retryTimer);
        retryTimer = 0;
      },
      get ready() {
        return isReady;
      },
      get open() {
        return sock !== null;
      },
    };
  };
  let typingTimer = 0;
  let lastTyping = 0;
  let isOpen = false;
  let unread = 0;
  let agentName = "";
  let options = null; // {agents_online, prechat, identity_mode, campaigns, email_replies}
  // what the offline form promises: a reply by email only where the server can send one
  const byEmail = (key) => (options && options.email_replies ? key : key + "Here");
  let unavailable = false;
  let destroyed = false;
  let maxBody = 4000;
  let sentRead = {};
  let identity = null; // the last identify() frame
  let contact = null; // the last contact frame
  let attributes = null; // attributes set on this page
  let events = []; // track() calls waiting for a connection
  let lastContext = "";
  let returnFocus = null;
  const listeners = {};
  const cleanups = [];

  const emit = (name, detail) =>
    (listeners[name] || []).slice().forEach((fn) => {
      try {
        fn(detail);
      } catch (err) {
        console.error(err);
      }
    });

  // -- DOM: everything inside one open shadow root ------------------------------------------
  const el = (tag, attrs, ...children) => {
    const node = D.createElement(tag);
    for (const k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (attrs[k] !== false && attrs[k] != null) node.setAttribute(k, attrs[k]);
    }
    node.append(...children);
    return node;
  };
  const SVG = "http://www.w3.org/2000/svg";
  const icon = (d, stroke) => {
    const svg = D.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = D.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    if (stroke) {
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", "currentColor");
      path.setAttribute("stroke-width", "2.2");
      path.setAttribute("stroke-linecap", "round");
    } else path.setAttribute("fill", "currentColor");
    svg.append(path);
    return svg;
  };
  const cross = (label) =>
    el("button", { type: "button", class: "x", "aria-label": label, title: label }, icon("M6 6l12 12M18 6L6 18", true));
  const CHAT_ICON = "M5 4h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H10l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";

  const host = D.createElement("causette-widget");
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS());
  root.adoptedStyleSheets = [sheet];

  const badge = el("span", { class: "badge", "aria-hidden": "true", hidden: "" });
  const badgeText = el("span", { id: "cz-unread", class: "sr" });
  const launcher = el(
    "button",
    {
      type: "button",
      class: "launcher",
      "aria-label": t("launcher"),
      "aria-expanded": "false",
      "aria-controls": "cz-panel",
      "aria-describedby": "cz-unread",
    },
    icon(CHAT_ICON),
    icon("M6 9l6 6 6-6", true),
    badge,
  );
  const title = el("h2", { id: "cz-title", text: t("title") });
  const sub = el("p", { class: "sub", text: t("sub") });
  const avatar = el("div", { class: "avatar", "aria-hidden": "true" }, icon(CHAT_ICON));
  const closeBtn = el(
    "button",
    { type: "button", class: "close", "aria-label": t("close"), title: t("close") },
    icon("M6 6l12 12M18 6L6 18", true),
  );
  const status = el("div", { class: "status", role: "status" });
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("log"), tabindex: "0" });
  const intro = el("p", { class: "intro", text: t("intro") });
  log.append(intro);
  const typing = el("div", { class: "typing", "aria-live": "polite" });
  const textarea = el("textarea", {
    rows: "1",
    "aria-label": t("message"),
    placeholder: t("placeholder"),
    maxlength: String(maxBody),
  });
  const sendBtn = el(
    "button",
    { type: "submit", class: "send", "aria-label": t("send"), title: t("send") },
    icon("M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z"),
  );
  const composer = el("form", { class: "composer" }, textarea, sendBtn);
  const form = el("form", { class: "form", hidden: "", novalidate: "" });
  const panel = el(
    "div",
    { class: "panel", id: "cz-panel", role: "dialog", "aria-labelledby": "cz-title", hidden: "" },
    el("header", {}, avatar, el("div", { class: "heading" }, title, sub), closeBtn),
    status,
    log,
    typing,
    form,
    composer,
  );
  const inviteBox = el("div", { class: "invite", role: "region", "aria-label": t("invite"), "aria-live": "polite" });
  inviteBox.hidden = true;
  const frame = el("div", { class: "root" }, panel, inviteBox, launcher, badgeText);
  root.append(frame);

  // -- rendering -------------------------------------------------------------------------
  // Every piece of user text (a name, a message, anything from the server or the visitor) goes
  // in a <bdi>: its own direction, isolated, so a U+202E in it reorders it alone, never the
  // words around it. Its isolates are balanced line by line first: a PDI (U+2069) with nothing
  // of its own to close would close the <bdi>'s, one left open would swallow it, and a line
  // break ends a bidi paragraph in a bubble (every paragraph separator becomes a newline).
  // Overrides and embeddings end with the isolate or the paragraph.
  const balanced = (value) =>
    String(value)
      // eslint-disable-next-line no-control-regex -- U+001C-U+001E are paragraph separators
      .split(/\r\n?|[\n\x1c-\x1e\x85\u2029]/)
      .map((line) => {
        let open = 0;
        const kept = line.replace(/[\u2066-\u2069]/g, (c) => (c !== "\u2069" ? (open++, c) : open ? (open--, c) : ""));
        return kept + "\u2069".repeat(open);
      })
      .join("\n");
  const bdi = (value) => el("bdi", { text: balanced(value) });
  // a message: text in a <bdi>, its http(s) URLs as links that read left to right
  const renderText = (value) => {
    const text = balanced(value);
    const node = el("bdi");
    let last = 0;
    for (const m of text.matchAll(LINK)) {
      const raw = m[0].replace(/[.,;:!?)\]}]+$/, "");
      node.append(text.slice(last, m.index));
      let url = null;
      try {
        url = new URL(raw);
      } catch (_) {
        /* not a URL after all */
      }
      if (url && (url.protocol === "https:" || url.protocol === "http:")) {
        node.append(
          el("a", { href: url.href, dir: "ltr", target: "_blank", rel: "noopener noreferrer nofollow", text: raw }),
        );
      } else node.append(raw);
      last = m.index + raw.length;
    }
    node.append(text.slice(last));
    return node;
  };
  const clock = (iso) => {
    const d = iso ? new Date(iso) : new Date();
    return d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  };
  // arrival order (the server delivers each conversation in seq order), but what the server
  // sends goes before the visitor's own messages still waiting to be sent
  const place = (row, pending) => {
    let before = null;
    if (!pending) for (let n = log.lastElementChild; n && n.classList.contains("pending"); n = n.previousElementSibling) before = n;
    log.insertBefore(row, before);
    if (isOpen) log.scrollTop = log.scrollHeight;
  };
  const bubble = (kind, text, at, name, pending) => {
    const meta = el("div", { class: "meta" });
    const row = el(
      "div",
      { class: "msg " + kind },
      name ? el("div", { class: "who" }, bdi(name)) : "",
      el("div", { class: "bubble" }, renderText(text)),
      meta,
    );
    row.dataset.at = at || new Date().toISOString();
    if (pending) row.classList.add("pending");
    meta.textContent = clock(at);
    place(row, pending);
    return row;
  };
  const setMeta = (row, state) => {
    row.classList.toggle("pending", state === "sending");
    row.classList.toggle("failed", state === "failed");
    row.lastElementChild.textContent =
      clock(row.dataset.at) + (state === "sending" ? " · " + t("sending") : state === "failed" ? " · " + t("failed") : "");
  };
  const systemLine = (...pieces) => place(el("div", { class: "system" }, ...pieces));

  const showUnread = () => {
    badge.textContent = unread > 9 ? "9+" : String(unread);
    badge.hidden = unread === 0;
    badgeText.textContent = unread ? t("unread", { n: unread }) : "";
    emit("unread", unread);
  };
  const setAgent = (name) => {
    if (!name || name === agentName) return;
    agentName = name;
    sub.replaceChildren(...tNodes("answering", { name: bdi(name) }));
    avatar.textContent = name.trim().charAt(0).toUpperCase();
  };
  let connState = "idle";
  const setStatus = (state) => {
    if (state === connState) return;
    connState = state;
    status.textContent = state === "reconnecting" ? t("reconnecting") : state === "unavailable" ? t("unavailable") : "";
    status.className = "status " + state;
    emit("status", state);
  };

  // -- messages in and out ---------------------------------------------------------------
  const saveOutbox = () => store.set("outbox", outbox);
  const unqueue = (clientId) => {
    outbox = (store.get("outbox") || outbox).filter((m) => m.client_id !== clientId);
    saveOutbox();
  };
  // the outbox entry but its time: client_id, body, and the campaign a first reply answers
  const transmit = ({ at, ...msg }) => client.send({ type: "message", ...msg });
  const sendMessage = (body) => {
    body = body.trim();
    if (!body) return false;
    const msg = { client_id: uuid(), body: body.slice(0, maxBody), at: new Date().toISOString() };
    if (replyTo && !hasOpen) msg.campaign_id = replyTo;
    replyTo = null;
    outbox = (store.get("outbox") || outbox).concat(msg);
    saveOutbox();
    const row = bubble("visitor", msg.body, msg.at, "", true);
    setMeta(row, "sending");
    rows.set(msg.client_id, row);
    transmit(msg);
    connect(true);
    return true;
  };
  const sendFrame = (frame) => client.send(frame);
  const markRead = () => {
    if (!isOpen || D.hidden) return;
    for (const conv in seen) {
      if ((read[conv] || 0) < seen[conv]) read[conv] = seen[conv];
      if ((sentRead[conv] || 0) < read[conv] && sendFrame({ type: "read", conversation_id: conv, seq: read[conv] }))
        sentRead[conv] = read[conv];
    }
    store.set("read", read);
    unread = 0;
    showUnread();
  };

  const onMessage = (m) => {
    const key = m.conversation_id + ":" + m.seq;
    seen[m.conversation_id] = Math.max(seen[m.conversation_id] || 0, m.seq);
    if (hidden.has(m.conversation_id) || rows.has(key)) return;
    remember(m.conversation_id);
    const mine = m.author && m.author.kind === "visitor";
    let row = rows.get(m.client_id);
    if (row && mine) {
      setMeta(row, "sent");
      unqueue(m.client_id);
    } else {
      const agent = m.author && m.author.kind === "agent";
      if (agent) setAgent(m.author.name);
      const prev = log.lastElementChild;
      const who = agent && !(prev && prev.dataset.author === (m.author.name || "")) ? m.author.name || t("someone") : "";
      row = bubble(mine ? "visitor" : agent ? "agent" : "system-msg", m.body, m.created_at, who);
      row.dataset.author = agent ? m.author.name || "" : "";
      if (mine) unqueue(m.client_id);
      if (agent && m.seq > (read[m.conversation_id] || 0)) {
        if (isOpen && !D.hidden) markRead();
        else {
          unread += 1;
          showUnread();
        }
      }
      if (agent) {
        typing.textContent = "";
        emit("message", { body: m.body, author: m.author, conversation_id: m.conversation_id, seq: m.seq, created_at: m.created_at });
      }
    }
    row.dataset.seq = m.seq;
    rows.set(key, row);
  };
  const remember = (conv) => {
    if (conv && conv !== conversation) {
      conversation = conv;
      store.set("conversation", conv);
    }
  };

  const onFrame = (f) => {
    switch (f.type) {
      case "welcome":
        client.welcomed(f.heartbeat);
        // the campaign frames that follow are the whole set: one ended meanwhile is gone
        campaigns.clear();
        welcomedAt = Date.now();
        hasOpen = !!f.conversation;
        maxBody = f.max_body || maxBody;
        textarea.maxLength = maxBody;
        if (f.conversation && conversation && f.conversation.id !== conversation && !seen[conversation])
          hidden.add(conversation);
        if (f.conversation) remember(f.conversation.id);
        setStatus("online");
        sendContext(true);
        if (identity) sendFrame(identity);
        if (contact) sendFrame(contact);
        if (attributes) sendFrame({ type: "attributes", attributes });
        events.splice(0).forEach(sendFrame);
        unexposed.splice(0).forEach(expose);
        // the outbox is shared by the tabs: show all of it, in order, at the end, and send it
        outbox = store.get("outbox") || outbox;
        outbox.forEach((msg) => {
          let row = rows.get(msg.client_id);
          if (!row) {
            row = bubble("visitor", msg.body, msg.at, "", true);
            setMeta(row, "sending");
            rows.set(msg.client_id, row);
          }
          if (row.classList.contains("pending")) log.append(row);
          transmit(msg);
        });
        markRead();
        emit("ready", { visitor_id: f.visitor_id });
        break;
      case "message":
        onMessage(f);
        break;
      case "ack": {
        const row = rows.get(f.client_id);
        if (row) {
          setMeta(row, "sent");
          row.dataset.seq = f.seq;
          rows.set(f.conversation_id + ":" + f.seq, row);
        }
        remember(f.conversation_id);
        unqueue(f.client_id);
        hasOpen = true;
        break;
      }
      case "typing":
        if (f.author && f.author.kind === "agent") {
          setAgent(f.author.name);
          typing.replaceChildren(...tNodes("typing", { name: bdi(f.author.name || t("someone")) }));
          clearTimeout(typingTimer);
          typingTimer = setTimeout(() => (typing.textContent = ""), 6000);
        }
        break;
      case "conversation":
        if (f.conversation_id === conversation) hasOpen = f.status === "open";
        if (f.status === "resolved" && f.conversation_id === conversation) systemLine(t("resolved"));
        break;
      case "campaign":
        onCampaign(f);
        break;
      case "csat":
        onCsat(f);
        break;
      case "read":
        if (f.reader && f.reader.kind === "agent") {
          for (const [key, row] of rows) {
            if (key.startsWith(f.conversation_id + ":") && row.classList.contains("visitor") && +row.dataset.seq <= f.seq)
              row.classList.add("seen");
          }
        }
        break;
      case "error":
        onError(f);
        break;
    }
  };
  const onError = (f) => {
    const row = f.ref && rows.get(f.ref);
    if (row && outbox.some((m) => m.client_id === f.ref)) {
      if (f.retryable) setTimeout(() => outbox.filter((m) => m.client_id === f.ref).forEach(transmit), 2000);
      else {
        setMeta(row, "failed");
        unqueue(f.ref);
      }
    } else if (f.code === "conversation_not_found" && f.ref === conversation) {
      conversation = null;
      store.del("conversation");
    }
    if (f.code === "identity_refused") identity = null;
    // a rating the server cannot take (answered already, too late): the question goes away
    if (rating && (f.code === "not_allowed" || f.code === "conversation_not_found")) {
      const card = ratings.get(rating);
      if (card) card.remove();
      rating = null;
    }
    emit("error", { code: f.code, message: f.message });
  };

  // -- the session, and the view's side of the socket ---------------------------------------
  const fetchJSON = async (path, body) => {
    const res = await fetch(BASE + path, {
      method: body ? "POST" : "GET",
      mode: "cors",
      credentials: "omit",
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 403 || res.status === 404) {
      const err = new Error("unavailable");
      err.fatal = true;
      throw err;
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json();
  };
  const ensureSession = async () => {
    session = store.get("session") || session;
    if (session && session.token) return session;
    const data = await fetchJSON("/api/visitors", { space: SPACE });
    session = store.get("session") || { token: data.token, visitor_id: data.visitor_id };
    if (identity && !session.identity) session.identity = identity.id;
    store.set("session", session);
    return session;
  };
  const showUnavailable = () => {
    unavailable = true;
    setStatus("unavailable");
    composer.hidden = true;
    form.hidden = true;
  };

  // the view's side of the socket: how to say hello, what a close means
  const client = createClient({
    url: WS_URL,
    prepare: ensureSession,
    hello() {
      const resume = {};
      if (conversation) resume[conversation] = 0;
      for (const conv in seen) resume[conv] = seen[conv];
      return { type: "hello", token: session.token, resume };
    },
    frame: onFrame,
    closed(e) {
      if (e.code === 4002) {
        // this visitor's data was erased on request: forget it on this page too, start afresh
        setTimeout(() => api.reset(), 0);
        return;
      }
      if (e.code === 1008 && /token/.test(e.reason)) {
        session = null; // expired or from another server: start over as a new visitor
        store.del("session");
      }
    },
    refused: showUnavailable,
    status: setStatus,
    watched: () => isOpen && !D.hidden,
    stopped: () => destroyed || unavailable,
  });
  const connect = (now) => client.connect(now);
  const reconnectNow = () => {
    if (!D.hidden && !client.open && session && session.token) connect(true);
  };

  // -- context, identity, attributes, events --------------------------------------------
  const sendContext = (force) => {
    const ctx = {
      type: "context",
      url: location.href.slice(0, 2048),
      referrer: D.referrer.slice(0, 2048),
      locale: (navigator.language || "").replace(/[^A-Za-z0-9_-]/g, "").slice(0, 35),
      title: D.title.slice(0, 300),
    };
    const text = JSON.stringify(ctx);
    if (text === lastContext && !force) return;
    lastContext = text;
    sendFrame(ctx);
  };
  const clean = (obj, max) => {
    const out = {};
    for (const [k, v] of Object.entries(obj || {}).slice(0, max)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(k)) continue;
      if (v === null || typeof v === "boolean" || (typeof v === "number" && isFinite(v))) out[k] = v;
      else if (typeof v === "string") out[k] = v.slice(0, 500);
    }
    return out;
  };

  // -- views: chat, pre-chat form, leave-a-message form ------------------------------------
  const hasTranscript = () => rows.size > 0 || outbox.length > 0;
  const field = (name, type, label) => {
    const input = el("input", { id: "cz-" + name, name, type, autocomplete: name, required: "" });
    const error = el("span", { class: "error", id: "cz-" + name + "-error" });
    input.setAttribute("aria-describedby", error.id);
    return [el("label", { for: input.id, text: label }), input, error];
  };
  const showForm = (kind) => {
    if (!form.hidden && form.dataset.kind === kind) return; // as it is: what was typed stays
    form.dataset.kind = kind;
    const leave = kind === "leave";
    const fields = leave ? [] : field("name", "text", t("name"));
    if (leave || options.prechat === "name_email") fields.push(...field("email", "email", t("email")));
    if (leave)
      fields.push(
        el("label", { for: "cz-body", text: t("message") }),
        el("textarea", { id: "cz-body", name: "body", rows: "4", required: "" }),
        el("span", { class: "error" }),
      );
    form.replaceChildren(
      el("p", { text: leave ? t(byEmail("away")) : t("prechat") }),
      ...fields,
      el("button", { type: "submit", class: "primary", text: leave ? t("leave") : t("start") }),
    );
    const values = { name: profile.name || "", email: profile.email || "" };
    for (const input of form.querySelectorAll("input")) input.value = values[input.name] || "";
    form.hidden = false;
    composer.hidden = true;
    log.hidden = leave;
  };
  const showChat = () => {
    form.hidden = true;
    composer.hidden = unavailable;
    log.hidden = false;
  };
  const chooseView = () => {
    if (unavailable) return showUnavailable();
    const away = options && !options.agents_online;
    if (!agentName) sub.textContent = away ? t(byEmail("awayShort")) : t("sub");
    if (hasTranscript() || !options) return showChat();
    if (away && !profile.email) return showForm("leave");
    const needs = options.prechat === "name_email" ? !(profile.name && profile.email) : options.prechat === "name" && !profile.name;
    if (needs && !(identity && identity.name)) return showForm("prechat");
    showChat();
  };
  const focusView = () => {
    const target = !form.hidden ? form.querySelector("input,textarea") : !composer.hidden ? textarea : closeBtn;
    target.focus();
  };
  const submitForm = (e) => {
    e.preventDefault();
    let ok = true;
    const data = {};
    for (const input of form.querySelectorAll("input,textarea")) {
      const value = input.value.trim();
      const bad = !value ? t("required") : input.type === "email" && !EMAIL.test(value) ? t("badEmail") : "";
      input.setAttribute("aria-invalid", bad ? "true" : "false");
      input.nextElementSibling.textContent = bad;
      if (bad && ok) input.focus();
      ok = ok && !bad;
      data[input.name] = value;
    }
    if (!ok) return;
    profile = { ...profile, ...(data.name ? { name: data.name } : {}), ...(data.email ? { email: data.email } : {}) };
    store.set("profile", profile);
    contact = { type: "contact", name: profile.name || null, email: profile.email || null };
    sendFrame(contact);
    if (data.body) {
      sendMessage(data.body);
      systemLine(...tNodes(byEmail("thanks"), { email: bdi(data.email) }));
    }
    connect(true);
    showChat();
    chooseView();
    focusView();
  };

  // -- open and close --------------------------------------------------------------------
  const open = async () => {
    if (isOpen || destroyed) return;
    hideInvite();
    isOpen = true;
    returnFocus = D.activeElement;
    panel.hidden = false;
    frame.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    chooseView();
    focusView();
    log.scrollTop = log.scrollHeight;
    markRead();
    emit("open");
    try {
      await refreshOptions();
    } catch (err) {
      if (err.fatal) showUnavailable();
    }
    if (!isOpen) return;
    const before = form.hidden;
    chooseView();
    if (before !== form.hidden) focusView();
    connect(true);
  };
  const close = () => {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    frame.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    const back = returnFocus && returnFocus !== host && returnFocus.isConnected ? returnFocus : launcher;
    back.focus();
    emit("close");
  };

  // -- campaigns: what the rules know, which invitation shows, its caps and exposure -------
  // The server sends the live campaigns after each welcome; the widget evaluates their rules
  // here, shows at most one invitation per page view and reports it once (an exposure).
  // Facts of this tab's session live in sessionStorage ("visit"), fatigue in localStorage:
  // "shown" (per campaign: times, and times on "day"), "cooldown" (no invitation before),
  // "exposed" (campaign:phase reported), "first_seen" (new or returning).
  const campaigns = new Map(); // campaign id -> its campaign frame
  const unexposed = []; // exposures to send once connected
  let invite = null; // the campaign whose invitation is on screen
  let shownHere = false; // this page view had its invitation
  let replyTo = null; // the campaign the visitor's next first message answers
  let hasOpen = false; // the visitor has an open conversation
  let welcomedAt = 0;
  let optionsAt = 0;
  let wantsAgents = false; // a rule asks whether agents are online
  let ticker = 0;
  const pageParams = () => Object.fromEntries([...new URLSearchParams(location.search)].reverse());
  const visit = tabStore.get("visit") || { start: Date.now(), seconds: 0, pages: 0, events: {}, shown: {} };
  visit.landing = visit.landing || pageParams();
  visit.pages += 1;
  if (!store.get("first_seen")) store.set("first_seen", visit.start);
  const returning = store.get("first_seen") < visit.start;
  let siteSeconds = visit.seconds; // visible seconds of the session's earlier page views
  let pageUrl = location.href.split("#")[0];
  let page = { ms: 0, since: D.hidden ? 0 : performance.now(), scroll: 0, exit: false };
  const pageSeconds = () => (page.ms + (page.since ? performance.now() - page.since : 0)) / 1000;
  const saveVisit = () => tabStore.set("visit", { ...visit, seconds: siteSeconds + pageSeconds() });
  saveVisit();
  const scrolled = () => {
    const height = D.documentElement.scrollHeight;
    return (page.scroll = Math.max(page.scroll, height ? Math.min(100, ((W.scrollY + W.innerHeight) / height) * 100) : 100));
  };
  const coarse = () => matchMedia("(pointer: coarse)").matches;
  const facts = (c) => ({
    url: location.href,
    referrer: D.referrer,
    params: { ...visit.landing, ...pageParams() },
    time_on_page: pageSeconds(),
    time_on_site: siteSeconds + pageSeconds(),
    scroll: scrolled(),
    exit_intent: page.exit,
    pages_viewed: visit.pages,
    returning,
    language: navigator.language || "",
    device: !coarse() ? "desktop" : Math.min(screen.width, screen.height) >= 600 ? "tablet" : "mobile",
    attributes: attributes || {},
    events: visit.events,
    now: Date.now(),
    time_zone: c.time_zone,
    agents_online: options ? options.agents_online : null,
  });
  const refreshOptions = async () => {
    optionsAt = Date.now();
    options = await fetchJSON("/api/spaces/" + encodeURIComponent(SPACE) + "/status");
    return options;
  };
  const today = () => new Date().toDateString();
  const capped = (c, shown) => {
    const caps = c.caps || {};
    const mine = shown[c.campaign_id] || {};
    return (
      (caps.open_conversation !== "show" && hasOpen) ||
      (caps.per_session != null && (visit.shown[c.campaign_id] || 0) >= caps.per_session) ||
      (caps.per_visitor != null && (mine.n || 0) >= caps.per_visitor) ||
      (caps.per_day != null && mine.day === today() && mine.d >= caps.per_day)
    );
  };
  // the highest priority among the campaigns that match and are not capped (ties: the lowest id)
  const select = () => {
    if (!campaigns.size || shownHere || isOpen || D.hidden || destroyed || Date.now() - welcomedAt < 300) return;
    if ((store.get("cooldown") || 0) > Date.now()) return;
    const shown = store.get("shown") || {};
    let best = null;
    for (const c of campaigns.values()) {
      const priority = c.priority || 0;
      if (best && (priority < best.priority || (priority === best.priority && c.campaign_id > best.campaign_id))) continue;
      if (capped(c, shown)) continue;
      try {
        if (evaluateRule(c.rules || {}, facts(c))) best = { ...c, priority };
      } catch (_) {
        /* a rule this version does not know: not shown */
      }
    }
    if (best) show(best, shown);
  };
  const show = (c, shown) => {
    const id = c.campaign_id;
    const mine = shown[id] || {};
    shownHere = true;
    visit.shown[id] = (visit.shown[id] || 0) + 1;
    saveVisit();
    shown[id] = { n: (mine.n || 0) + 1, day: today(), d: mine.day === today() ? mine.d + 1 : 1 };
    store.set("shown", shown);
    if (c.message == null) return expose(c); // the holdout: reported, never seen
    invite = c;
    const quick = (c.buttons || []).map((text) => {
      const b = el("button", { type: "button", class: "quick" }, bdi(text));
      b.addEventListener("click", () => reply(c, text));
      return b;
    });
    const who = c.sender ? el("span", { class: "who" }, bdi(c.sender)) : "";
    const pitch = el("button", { type: "button", class: "pitch" }, who, bdi(c.message));
    const x = cross(t("dismiss"));
    pitch.addEventListener("click", () => reply(c, ""));
    x.addEventListener("click", () => dismiss(c));
    inviteBox.replaceChildren(x, pitch, ...quick);
    inviteBox.hidden = false;
    // reported once it is on the screen: laid out, in a visible tab
    requestAnimationFrame(() => requestAnimationFrame(() => invite === c && pitch.getClientRects().length && expose(c)));
  };
  const expose = (c) => {
    const key = c.campaign_id + ":" + c.phase;
    const exposed = store.get("exposed") || {};
    if (exposed[key]) return;
    if (!sendFrame({ type: "exposure", campaign_id: c.campaign_id, phase: c.phase })) return unexposed.push(c);
    exposed[key] = 1;
    store.set("exposed", exposed);
  };
  const hideInvite = () => {
    if (!invite) return;
    if (inviteBox.contains(root.activeElement)) launcher.focus();
    invite = null;
    inviteBox.hidden = true;
    inviteBox.replaceChildren();
  };
  // dismissed: no invitation of any campaign for the cool-down
  const dismiss = (c) => {
    hideInvite();
    store.set("cooldown", Date.now() + ((c.caps && c.caps.cooldown_hours) || 0) * 3600000);
  };
  // the invitation becomes the first bubble, and the visitor's first message answers it
  const reply = (c, text) => {
    hideInvite();
    replyTo = c.campaign_id;
    open();
    bubble("agent", c.message, null, c.sender);
    if (text) sendMessage(text);
  };
  const tick = () => {
    if (invite && !campaigns.has(invite.campaign_id) && Date.now() - welcomedAt > 2000) hideInvite();
    if (wantsAgents && Date.now() - optionsAt > 60000) refreshOptions().catch(() => {});
    select();
  };
  const onCampaign = (f) => {
    if (typeof f.campaign_id !== "string") return;
    if (f.withdrawn) {
      campaigns.delete(f.campaign_id);
      if (invite && invite.campaign_id === f.campaign_id) hideInvite();
    } else campaigns.set(f.campaign_id, f);
    wantsAgents = [...campaigns.values()].some((c) => JSON.stringify(c.rules).includes('"agents_online"'));
    if (!ticker) {
      ticker = setInterval(tick, 500);
      cleanups.push(() => clearInterval(ticker));
    }
  };
  // a single-page app's page change is a new page view
  const pageChanged = () => {
    const url = location.href.split("#")[0];
    if (url === pageUrl) return;
    pageUrl = url;
    siteSeconds += pageSeconds();
    page = { ms: 0, since: D.hidden ? 0 : performance.now(), scroll: 0, exit: false };
    visit.pages += 1;
    shownHere = !!invite;
    saveVisit();
    select();
  };
  const onVisible = () => {
    if (D.hidden && page.since) {
      page.ms += performance.now() - page.since;
      page.since = 0;
    } else if (!D.hidden && !page.since) page.since = performance.now();
    saveVisit();
    select();
  };

  // -- satisfaction: one question after a resolved conversation ----------------------------
  const ratings = new Map(); // conversation id -> its card
  let rating = null; // the conversation a rating was sent for, until the server answers
  const onCsat = (f) => {
    const card = ratings.get(f.conversation_id);
    if (f.score != null) {
      rating = null;
      if (!card) return;
      const focused = card.contains(root.activeElement);
      card.replaceChildren(el("p", { text: t("rated") }));
      if (focused && isOpen) textarea.focus();
      return;
    }
    const closed = store.get("csat") || [];
    const left = Date.parse(f.until) - Date.now();
    if (card || closed.includes(f.conversation_id) || !(left > 0)) return;
    let score = 0;
    const send = el("button", { type: "submit", class: "primary", disabled: "", text: t("send") });
    const stars = [1, 2, 3, 4, 5].map((n) =>
      el("button", { type: "button", role: "radio", "aria-checked": "false", "aria-label": t("score", { n }), text: String(n) }),
    );
    stars[0].tabIndex = 0; // one stop for Tab, the arrows for the rest
    for (const b of stars.slice(1)) b.tabIndex = -1;
    const pick = (n, focus) => {
      score = n;
      stars.forEach((b, i) => {
        b.setAttribute("aria-checked", String(i + 1 === n));
        b.tabIndex = i + 1 === n ? 0 : -1;
      });
      if (focus) stars[n - 1].focus();
      send.disabled = false;
    };
    stars.forEach((b, i) => b.addEventListener("click", () => pick(i + 1)));
    const group = el("div", { class: "stars", role: "radiogroup", "aria-label": t("rate") }, ...stars);
    group.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (!step) return;
      e.preventDefault();
      const from = stars.indexOf(e.target) + 1 || score || (step > 0 ? 0 : 6);
      pick(((from + step + 4) % 5) + 1, true);
    });
    const comment = el("textarea", { rows: "2", maxlength: "1000", "aria-label": t("comment"), placeholder: t("comment") });
    const x = cross(t("noRating"));
    const node = el("form", { class: "csat", "aria-label": t("rate") }, x, el("p", { text: t("rate") }), group, comment);
    node.append(send);
    node.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = comment.value.trim().slice(0, 1000) || null;
      if (score && sendFrame({ type: "csat", conversation_id: f.conversation_id, score, comment: text })) rating = f.conversation_id;
    });
    x.addEventListener("click", () => {
      node.remove();
      store.set("csat", (store.get("csat") || []).concat(f.conversation_id).slice(-20));
      if (isOpen) textarea.focus();
    });
    ratings.set(f.conversation_id, node);
    place(node);
    setTimeout(() => ratings.get(f.conversation_id) === node && !score && node.remove(), Math.min(left, 2 ** 31 - 1));
  };

  // -- wiring ------------------------------------------------------------------------------
  const listen = (target, type, fn, opts) => {
    target.addEventListener(type, fn, opts);
    cleanups.push(() => target.removeEventListener(type, fn, opts));
  };
  launcher.addEventListener("click", () => (isOpen ? close() : open()));
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
  });
  // keystrokes typed here are ours: the host page's shortcuts never see them
  for (const type of ["keydown", "keyup", "keypress"]) frame.addEventListener(type, (e) => e.stopPropagation());
  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    if (sendMessage(textarea.value)) {
      textarea.value = "";
      grow();
    }
    textarea.focus();
  });
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  const grow = () => {
    textarea.rows = Math.min(5, Math.max(1, textarea.value.split("\n").length));
  };
  textarea.addEventListener("input", () => {
    grow();
    const now = Date.now();
    if (client.ready && now - lastTyping > 3000 && textarea.value.trim()) {
      lastTyping = now;
      sendFrame({ type: "typing" });
    }
  });
  form.addEventListener("submit", submitForm);

  listen(W, "online", reconnectNow);
  listen(D, "visibilitychange", () => {
    reconnectNow();
    markRead();
    onVisible();
  });
  listen(W, "pagehide", saveVisit);
  listen(W, "scroll", () => select(), { passive: true });
  // exit intent: a mouse (never a finger) leaving through the top of the window
  listen(D, "mouseout", (e) => {
    if (!e.relatedTarget && e.clientY <= 0 && matchMedia("(pointer: fine)").matches) {
      page.exit = true;
      select();
    }
  });
  inviteBox.addEventListener("keydown", (e) => e.key === "Escape" && invite && dismiss(invite));
  listen(W, "storage", (e) => {
    if (e.key === PREFIX + "read") {
      read = store.get("read") || {};
      if (unread && Object.keys(seen).every((c) => (read[c] || 0) >= seen[c])) {
        unread = 0;
        showUnread();
      }
    }
  });
  const onNavigate = () =>
    setTimeout(() => {
      sendContext(false);
      pageChanged();
    }, 300);
  if (W.navigation) listen(W.navigation, "currententrychange", onNavigate); // pushState too
  listen(W, "popstate", onNavigate);
  listen(W, "hashchange", onNavigate);

  const mount = () => {
    if (destroyed) return;
    (D.body || D.documentElement).append(host);
  };
  if (D.body) mount();
  else listen(D, "DOMContentLoaded", mount, { once: true });
  for (const msg of outbox) {
    const row = bubble("visitor", msg.body, msg.at, "", true);
    setMeta(row, "sending");
    rows.set(msg.client_id, row);
  }
  // a returning visitor reconnects at once (unread replies, unsent messages); a new one
  // gets a token only when it opens the chat
  if (session && session.token) connect(true);
  else {
    // a new visitor connects at once only where campaigns run (asked at most every 5 minutes)
    const probe = store.get("probe");
    const go = (on) => on && !destroyed && connect(true);
    if (probe && Date.now() - probe.at < 300000) go(probe.campaigns);
    else
      fetchJSON("/api/spaces/" + encodeURIComponent(SPACE) + "/status").then(
        (o) => go(store.set("probe", { at: Date.now(), campaigns: !!o.campaigns }) || o.campaigns),
        () => {},
      );
  }

  // -- the public API --------------------------------------------------------------------
  const api = {
    version: "1",
    open,
    close,
    toggle: () => (isOpen ? close() : open()),
    identify(user) {
      if (!user || typeof user.id !== "string" || !user.id) throw new TypeError("identify({id}) needs an id");
      const id = user.id.slice(0, 200);
      if (session && session.identity && session.identity !== id) api.reset();
      identity = { type: "identify", id };
      for (const k of ["name", "email", "signature"]) if (typeof user[k] === "string" && user[k]) identity[k] = user[k].slice(0, 320);
      if (session) {
        session.identity = id;
        store.set("session", session);
      }
      sendFrame(identity);
    },
    setAttributes(attrs) {
      attributes = { ...(attributes || {}), ...clean(attrs, 50) };
      sendFrame({ type: "attributes", attributes: clean(attrs, 50) });
      select();
    },
    track(event, props) {
      if (typeof event !== "string" || !event) return;
      const ev = { type: "track", event: event.slice(0, 100), props: clean(props, 20) };
      if (!sendFrame(ev)) events = events.concat(ev).slice(-20);
      visit.events[ev.event] = (own(visit.events, ev.event) || 0) + 1;
      saveVisit();
      select();
    },
    on(name, fn) {
      (listeners[name] = listeners[name] || []).push(fn);
      return () => (listeners[name] = listeners[name].filter((f) => f !== fn));
    },
    reset() {
      // sign-out on a shared computer: forget this visitor and start over
      client.stop();
      for (const k of ["session", "outbox", "read", "profile", "conversation", "exposed", "shown", "cooldown", "csat"]) store.del(k);
      session = conversation = replyTo = null;
      hasOpen = false;
      hideInvite();
      ratings.clear();
      outbox = [];
      read = {};
      sentRead = {};
      profile = {};
      identity = contact = attributes = null;
      for (const k in seen) delete seen[k];
      rows.clear();
      log.replaceChildren(intro);
      unread = 0;
      showUnread();
      agentName = "";
      sub.textContent = t("sub");
      avatar.replaceChildren(icon(CHAT_ICON));
      if (isOpen) connect(true);
    },
    shutdown() {
      destroyed = true;
      client.stop();
      cleanups.splice(0).forEach((fn) => fn());
      host.remove();
      delete W.Causette;
    },
    push(args) {
      const [name, ...rest] = args;
      if (typeof api[name] === "function" && name !== "push") return api[name](...rest);
    },
  };
  W.Causette = Object.freeze(api);
  if (Array.isArray(queued)) queued.forEach(api.push); // (window.Causette ||= []).push([...]) before load

  // -- the look ----------------------------------------------------------------------------
  function CSS() {
    return `
:host{all:initial!important;display:block!important;position:fixed!important;z-index:2147483000!important;
right:0!important;bottom:0!important;width:0!important;height:0!important;visibility:visible!important;
opacity:1!important;transform:none!important;pointer-events:none!important;contain:none!important}
.root{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1c2033;
-webkit-font-smoothing:antialiased;text-align:left;direction:ltr}
.root *{box-sizing:border-box;margin:0}
button,input,textarea{font:inherit;color:inherit}
[hidden]{display:none!important}
button{cursor:pointer;border:0;background:none;padding:0}
svg{width:24px;height:24px;display:block}
:focus-visible{outline:3px solid #9db4ff;outline-offset:2px}
.launcher{pointer-events:auto;position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;
background:#3452d6;color:#fff;display:grid;place-items:center;box-shadow:0 6px 24px rgba(25,40,120,.35);
transition:transform .15s ease}
.launcher:hover{transform:scale(1.06)}
.launcher svg{width:28px;height:28px}
.launcher svg+svg,.open .launcher svg:first-child{display:none}
.open .launcher svg+svg{display:block}
.badge{position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;
background:#e5484d;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;border:2px solid #fff}
.panel{pointer-events:auto;position:fixed;right:20px;bottom:92px;width:380px;height:min(620px,calc(100vh - 116px));
background:#fff;border-radius:18px;box-shadow:0 12px 48px rgba(16,24,64,.28);display:flex;flex-direction:column;
overflow:hidden;animation:rise .18s ease-out}
@keyframes rise{from{opacity:0;transform:translateY(12px)}}
header{display:flex;align-items:center;gap:12px;padding:18px 16px 18px 20px;
background:linear-gradient(135deg,#3452d6,#5b3fd1);color:#fff}
.avatar{width:40px;height:40px;flex:none;border-radius:50%;background:rgba(255,255,255,.2);display:grid;
place-items:center;font-weight:700;font-size:17px}
.avatar svg{width:22px;height:22px}
.heading{flex:1;min-width:0}
h2{font-size:17px;font-weight:700;line-height:1.25}
.sub{font-size:13px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.close{width:36px;height:36px;border-radius:50%;display:grid;place-items:center;color:#fff}
.close:hover{background:rgba(255,255,255,.16)}
.close svg{width:20px;height:20px}
.status:empty{display:none}
.status{padding:7px 16px;font-size:13px;background:#fff4d6;color:#7a5200;border-bottom:1px solid #f1dfab}
.status.unavailable{background:#fde8e8;color:#8a1c1c;border-color:#f5c2c2}
.log{flex:1;overflow-y:auto;padding:18px 16px 8px;background:#f6f7fb;display:flex;flex-direction:column;gap:4px}
.intro{align-self:center;max-width:88%;text-align:center;font-size:13.5px;color:#5b6178;margin:6px 0 14px}
.msg{display:flex;flex-direction:column;max-width:82%;margin-top:4px}
.msg.visitor{align-self:flex-end;align-items:flex-end}
.msg.agent,.msg.system-msg{align-self:flex-start;align-items:flex-start}
.who{font-size:12px;font-weight:600;color:#5b6178;margin:6px 0 3px 4px}
.bubble{padding:9px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}
.visitor .bubble{background:#3452d6;color:#fff;border-bottom-right-radius:5px}
.agent .bubble,.system-msg .bubble{background:#fff;border:1px solid #e3e6ef;border-bottom-left-radius:5px}
.bubble a{color:inherit;text-decoration:underline;text-underline-offset:2px}
.agent .bubble a{color:#2941b8}
.meta{font-size:11px;color:#8a8fa3;margin:2px 6px 0}
.seen .meta::after{content:" · ${T.seen}"}
.pending .bubble{opacity:.7}
.failed .bubble{background:#fde8e8;color:#8a1c1c}
.failed .meta{color:#b42318}
.system{align-self:center;font-size:12.5px;color:#5b6178;background:#eceef5;padding:5px 12px;border-radius:12px;margin:8px 0;text-align:center}
.typing{min-height:22px;padding:0 18px;font-size:12.5px;color:#5b6178;background:#f6f7fb}
.typing:not(:empty)::before{content:"";display:inline-block;width:6px;height:6px;margin-right:7px;border-radius:50%;
background:#8a8fa3;vertical-align:middle;animation:blink 1s infinite}
@keyframes blink{50%{opacity:.25}}
.composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px 12px;border-top:1px solid #e9ebf2;background:#fff}
textarea,input{width:100%;border:1px solid #d5d9e6;border-radius:12px;padding:10px 12px;background:#fff;resize:none;
outline:none;max-height:140px;color:#1c2033}
.composer textarea{border:0;border-radius:20px;padding:10px 14px;background:#f2f4f9;line-height:20px}
textarea:focus,input:focus{border-color:#3452d6;box-shadow:0 0 0 3px rgba(52,82,214,.15)}
.composer textarea:focus{box-shadow:0 0 0 2px #9db4ff;background:#fff}
.composer textarea:focus-visible{outline:none}
.send{flex:none;width:40px;height:40px;border-radius:50%;background:#3452d6;color:#fff;display:grid;place-items:center}
.send svg{width:20px;height:20px}
.send:hover,.primary:hover{background:#2941b8}
.form{flex:1;overflow-y:auto;padding:20px;display:flex;flex-direction:column;gap:6px;background:#f6f7fb}
.form p{color:#3b4057;margin-bottom:10px}
.form label{font-size:13px;font-weight:600;color:#3b4057;margin-top:6px}
.error{font-size:12px;color:#b42318;min-height:16px}
.primary{margin-top:10px;padding:12px;border-radius:12px;background:#3452d6;color:#fff;font-weight:600}
.invite{pointer-events:auto;position:fixed;right:20px;bottom:92px;width:320px;max-width:calc(100vw - 40px);display:flex;
flex-direction:column;align-items:flex-end;gap:6px;animation:rise .18s ease-out}
.pitch{background:#fff;border-radius:16px 16px 5px 16px;box-shadow:0 8px 32px rgba(16,24,64,.22);padding:12px 16px;
text-align:left;white-space:pre-wrap;overflow-wrap:anywhere;max-height:40vh;overflow-y:auto}
.pitch .who{display:block;margin:0 0 3px}
.x{width:28px;height:28px;border-radius:50%;display:grid;place-items:center;background:#fff;color:#5b6178;
box-shadow:0 2px 8px rgba(16,24,64,.18)}
.x svg{width:16px;height:16px}
.quick{background:#fff;border:1px solid #3452d6;color:#2941b8;border-radius:16px;padding:6px 14px;font-size:14px}
.quick:hover,.pitch:hover{background:#eef1fd}
.csat{position:relative;align-self:stretch;background:#fff;border:1px solid #e3e6ef;border-radius:14px;padding:14px;
margin:8px 0;display:flex;flex-direction:column;gap:10px}
.csat .x{position:absolute;top:6px;right:6px;box-shadow:none}
.csat p{padding-right:28px;font-weight:600}
.stars{display:flex;gap:6px}
.stars button{flex:1;height:38px;border:1px solid #d5d9e6;border-radius:10px;font-weight:700}
.stars [aria-checked=true]{background:#3452d6;border-color:#3452d6;color:#fff}
.csat .primary{margin:0}
.primary:disabled{opacity:.5;cursor:default}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:520px){
.panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}
.open .launcher{display:none}}
@media (prefers-reduced-motion:reduce){.panel,.invite,.launcher,.typing::before{animation:none;transition:none}}`;
  }
})();
