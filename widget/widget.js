/*! causette widget: <script src="https://CHAT-HOST/widget.js" data-space="KEY" async></script>
 * Plain ES2020, no dependencies, no build. Everything lives in an open shadow root styled by a
 * constructable stylesheet (so a host page with CSP style-src 'self' is fine); the only global
 * is window.Causette. Protocol v1: see docs/protocol.md.
 * One file in parts, each using only those above it: configuration and strings, storage, the
 * link policy and the protocol client (the only code that touches the WebSocket), the view
 * (DOM, rendering, messages, forms), the public API, the look. */
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
      required: "Please fill in this field.",
      badEmail: "Please enter a valid email address.",
      unread: "{n} unread",
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
      required: "Ce champ est obligatoire.",
      badEmail: "Saisissez une adresse e-mail valide.",
      unread: "{n} non lus",
    },
  }[lang];
  const t = (key, vars) => T[key].replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k]) || "");
  // the same line as pieces to append, each {var} as given: user text in its <bdi>
  const tNodes = (key, vars) => T[key].split(/\{(\w+)\}/).map((piece, i) => (i % 2 ? vars[piece] || "" : piece));

  // -- storage: per chat server and space, shared by the site's tabs ------------------------
  const memory = {};
  const store = {
    get(key) {
      try {
        const raw = localStorage.getItem(PREFIX + key);
        return raw ? JSON.parse(raw) : null;
      } catch (_) {
        return memory[key] ?? null;
      }
    },
    set(key, value) {
      memory[key] = value;
      try {
        localStorage.setItem(PREFIX + key, JSON.stringify(value));
      } catch (_) {
        /* storage full or blocked: memory only */
      }
    },
    del(key) {
      delete memory[key];
      try {
        localStorage.removeItem(PREFIX + key);
      } catch (_) {
        /* blocked */
      }
    },
  };

  const uuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
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
  let options = null; // {agents_online, prechat, identity_mode}
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
  const frame = el("div", { class: "root" }, panel, launcher, badgeText);
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
  const transmit = (msg) => {
    client.send({ type: "message", client_id: msg.client_id, body: msg.body });
  };
  const sendMessage = (body) => {
    body = body.trim();
    if (!body) return false;
    const msg = { client_id: uuid(), body: body.slice(0, maxBody), at: new Date().toISOString() };
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
        if (f.status === "resolved" && f.conversation_id === conversation) systemLine(t("resolved"));
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
      el("p", { text: leave ? t("away") : t("prechat") }),
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
    if (!agentName) sub.textContent = away ? t("awayShort") : t("sub");
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
      systemLine(...tNodes("thanks", { email: bdi(data.email) }));
    }
    connect(true);
    showChat();
    chooseView();
    focusView();
  };

  // -- open and close --------------------------------------------------------------------
  const open = async () => {
    if (isOpen || destroyed) return;
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
      options = await fetchJSON("/api/spaces/" + encodeURIComponent(SPACE) + "/status");
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
  });
  listen(W, "storage", (e) => {
    if (e.key === PREFIX + "read") {
      read = store.get("read") || {};
      if (unread && Object.keys(seen).every((c) => (read[c] || 0) >= seen[c])) {
        unread = 0;
        showUnread();
      }
    }
  });
  const onNavigate = () => setTimeout(() => sendContext(false), 300);
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
    },
    track(event, props) {
      if (typeof event !== "string" || !event) return;
      const ev = { type: "track", event: event.slice(0, 100), props: clean(props, 20) };
      if (!sendFrame(ev)) events = events.concat(ev).slice(-20);
    },
    on(name, fn) {
      (listeners[name] = listeners[name] || []).push(fn);
      return () => (listeners[name] = listeners[name].filter((f) => f !== fn));
    },
    reset() {
      // sign-out on a shared computer: forget this visitor and start over
      client.stop();
      for (const k of ["session", "outbox", "read", "profile", "conversation"]) store.del(k);
      session = conversation = null;
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
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:520px){
.panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}
.open .launcher{display:none}}
@media (prefers-reduced-motion:reduce){.panel,.launcher,.typing::before{animation:none;transition:none}}`;
  }
})();
