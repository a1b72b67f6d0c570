// The console's state, one object, and a tiny signal for "this part changed: draw it again".

export const state = {
  session: null, // GET /api/session
  view: "mine",
  status: "open",
  search: "",
  counts: {},
  list: [], // inbox entries of the current view, newest first
  entries: new Map(), // every entry seen, by conversation id
  agents: new Map(), // teammates by id
  teams: [],
  canned: [],
  presence: new Map(), // agent id -> online | away | offline
  openId: null,
  detail: null, // the open conversation: {conversation, visitor, messages, notes, reads}
  pending: new Map(), // client_id -> {conversation_id, body, created_at}
  typing: null, // {conversation_id, name, until}
  mode: "reply",
  connection: "connecting",
  myStatus: "online", // what the agent chose: online or away
};

const listeners = new Map();

export function on(part, fn) {
  if (!listeners.has(part)) listeners.set(part, new Set());
  listeners.get(part).add(fn);
}

export function changed(...parts) {
  for (const part of parts) for (const fn of listeners.get(part) || []) fn();
}

export function me() {
  return state.session?.agent;
}

export function visitorName(visitor, t) {
  if (!visitor) return "";
  return visitor.name || visitor.email || t("visitor.anonymous", { id: String(visitor.id || "").slice(0, 4) });
}

export function agentName(id) {
  return state.agents.get(id)?.name || "";
}

export function teamName(id) {
  return state.teams.find((team) => team.id === id)?.name || "";
}
