// How the console keeps its socket alive and comes back after a cut. The widget has the very
// same policy (it is one script with no imports, so it carries a copy: a test compares the
// two blocks between the markers).

// -- link policy: begin
// A ping every `heartbeat` seconds (the server gives it in its welcome), give or take a fifth;
// a link that answers nothing within `heartbeat` seconds more (10 at most) is dead; then a
// reconnection after a delay with full jitter, doubling from 0.5 s up to a cap: 5 s while
// someone is looking at it, 30 s in a background tab.
export const linkPolicy = {
  heartbeat: 25,
  pingDelay: (heartbeat) => heartbeat * 1000 * (0.8 + Math.random() * 0.4),
  deadAfter: (heartbeat) => Math.min(10000, heartbeat * 1000),
  reconnectDelay: (attempt, watched) =>
    250 + Math.random() * Math.min(watched ? 5000 : 30000, 500 * 2 ** Math.min(attempt, 6)),
};
// -- link policy: end
