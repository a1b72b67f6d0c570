// The agent's WebSocket: hello with the session's ws_token, frames to the app, reconnection
// with backoff and jitter. Messages sent while disconnected wait here and go out, with the
// same client_id, once the socket is back: the server acks a resend without storing it twice.

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
  }

  connect() {
    if (this.closed) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/agent`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "hello", token: this.token })));
    ws.addEventListener("message", (event) => this._receive(event.data));
    ws.addEventListener("close", (event) => this._closed(event.code));
  }

  _receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "welcome") {
      this.ready = true;
      this.attempt = 0;
      this.onState("online", frame);
      for (const pending of this.pending.values()) this.ws.send(JSON.stringify(pending));
      return;
    }
    if (frame.type === "ack") this.pending.delete(frame.client_id);
    this.onFrame(frame);
  }

  async _closed(code) {
    this.ready = false;
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
    const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
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
    this.ws?.close(1000);
  }
}
