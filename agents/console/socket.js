// The agent's WebSocket: hello with the session's ws_token, frames to the app, a ping that
// notices a dead link, reconnection with backoff and jitter (link.js: the widget's policy).
// Messages sent while disconnected wait here and go out, with the same client_id, once the
// socket is back: the server acks a resend without storing it twice.

import { linkPolicy } from "./link.js";

const SIGNED_OUT = 4001;

export class AgentSocket {
  constructor({ token, onFrame, onState, onSignedOut, refreshToken }) {
    this.token = token;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onSignedOut = onSignedOut;
    this.refreshToken = refreshToken;
    this.ws = null;
    this.ready = false;
    this.closed = false;
    this.attempt = 0;
    this.pending = new Map(); // client_id -> frame, until acked
    this.timer = null;
    this.heartbeat = linkPolicy.heartbeat;
    this.pingTimer = null;
    this.watchdog = null;
  }

  connect() {
    if (this.closed) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/agent`;
    const ws = new WebSocket(url);
    this.ws = ws;
    // a handshake that never completes is a dead link too
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this._dead(ws), linkPolicy.deadAfter(this.heartbeat));
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({ type: "hello", token: this.token }));
      this._ping();
    });
    ws.addEventListener("message", (event) => {
      if (this.ws === ws) this._receive(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws === ws) this._closed(event.code);
    });
  }

  // a ping every heartbeat; nothing back in time, and the link is dead: drop it, reconnect
  _ping() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send('{"type":"ping"}');
      // the first unanswered ping counts: a later one does not push the deadline back
      this.watchdog ??= setTimeout(() => this._dead(ws), linkPolicy.deadAfter(this.heartbeat));
      this._ping();
    }, linkPolicy.pingDelay(this.heartbeat));
  }

  _dead(ws) {
    if (this.ws !== ws) return;
    this.ws = null; // its close event, whenever it comes, is no longer ours
    try {
      ws.close();
    } catch {
      // already closing
    }
    this._closed(1006);
  }

  _receive(text) {
    clearTimeout(this.watchdog);
    this.watchdog = null;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "welcome") {
      this.ready = true;
      this.attempt = 0;
      if (frame.heartbeat > 0) this.heartbeat = frame.heartbeat;
      this._ping(); // at the server's pace from now on
      this.onState("online", frame);
      for (const pending of this.pending.values()) this.ws.send(JSON.stringify(pending));
      return;
    }
    if (frame.type === "ack") this.pending.delete(frame.client_id);
    this.onFrame(frame);
  }

  async _closed(code) {
    this.ready = false;
    clearTimeout(this.pingTimer);
    clearTimeout(this.watchdog);
    this.watchdog = null;
    if (this.closed) return;
    if (code === SIGNED_OUT || code === 1008) {
      // signed out, the password changed or the token refused: this browser may hold a new
      // session
      const token = await this.refreshToken().catch(() => null);
      if (!token) {
        this.closed = true;
        this.onSignedOut();
        return;
      }
      this.token = token;
    }
    this.onState("reconnecting");
    const delay = linkPolicy.reconnectDelay(this.attempt, !document.hidden);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(frame) {
    if (frame.type === "message") this.pending.set(frame.client_id, frame);
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.pingTimer);
    clearTimeout(this.watchdog);
    this.ws?.close(1000);
  }
}
