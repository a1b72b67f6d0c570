// The console's layout on every screen. Wide, the sidebar, the inbox, the conversation and its
// details stand side by side; narrower, the details take the conversation's place (a Details
// button, a back button); on a phone, the inbox, the conversation and the details are panes,
// one at a time. Below 1000 px the sidebar is a drawer behind a menu button. The stylesheet
// decides what shows (its breakpoints are the queries below); this module keeps the pane and
// the drawer, moves the focus, and lets Escape and the browser's Back step back.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { state } from "./state.js";

const DRAWER = matchMedia("(max-width: 999px)"); // the sidebar is a drawer
const PANED = matchMedia("(max-width: 1199px)"); // the details replace the conversation
const SINGLE = matchMedia("(max-width: 719px)"); // one pane at a time

let workspace = null;
let sidebar = null;
let scrim = null;
let opener = null; // the menu button that opened the drawer

/** Lay out `workspaceEl` (the sidebar, the inbox, the conversation, the details, the pages). */
export function mountPanes(workspaceEl, sidebarEl) {
  workspace = workspaceEl;
  sidebar = sidebarEl;
  opener = null;
  scrim = h("div", { class: "scrim", hidden: true, onclick: () => closeDrawer() });
  workspace.append(scrim);
  workspace.dataset.pane = "inbox";
}

/** "inbox", "conversation" or "details": what a narrow screen shows. */
export function currentPane() {
  return workspace?.dataset.pane || "inbox";
}

/** How many steps Back takes from this pane, on this screen. */
function depth(pane) {
  if (SINGLE.matches) return { inbox: 0, conversation: 1, details: 2 }[pane];
  if (PANED.matches) return pane === "details" ? 1 : 0;
  return 0;
}

/** Go to a pane. A step forward on this screen is a step in the browser's history, so that
 * Back (a phone's too) comes back to where it was. The caller focuses what it opens. */
export function showPane(pane) {
  const from = currentPane();
  if (!workspace || pane === from) return;
  if (depth(pane) > depth(from)) {
    history.replaceState({ ...history.state, pane: from }, "");
    history.pushState({ pane }, "");
  }
  setPane(pane);
}

/** The Details button: the details in the conversation's place, their heading focused. */
export function showDetails() {
  showPane("details");
  workspace?.querySelector(".details-title")?.focus();
}

/** One step back: the details to the conversation, the conversation to the inbox. */
export function backPane() {
  const from = currentPane();
  if (history.state?.pane === from) history.back(); // popstate takes it from there
  else arrive(from === "details" ? "conversation" : "inbox", from);
}

/** No conversation is open any more: a narrow screen shows the inbox. */
export function conversationClosed() {
  if (workspace && currentPane() !== "inbox") arrive("inbox", currentPane());
}

function setPane(pane) {
  workspace.dataset.pane = pane !== "inbox" && !state.openId ? "inbox" : pane;
}

/** Back on a pane: the focus where the agent left it. */
function arrive(pane, from) {
  setPane(pane);
  if (!PANED.matches) return;
  const now = currentPane();
  const target =
    now === "details"
      ? workspace.querySelector(".details-title")
      : now === "conversation" && from === "details"
        ? workspace.querySelector(".show-details")
        : now === "inbox"
          ? workspace.querySelector(".inbox-list .item.active") || workspace.querySelector("#search")
          : null;
  target?.focus();
}

// an entry without a pane is a page's (#reports...): the pane stays what it was
window.addEventListener("popstate", (event) => {
  const pane = event.state?.pane;
  if (workspace?.isConnected && pane && pane !== currentPane()) arrive(pane, currentPane());
});

// -- the drawer ------------------------------------------------------------------------------

/** The button that opens the sidebar where it is a drawer (hidden elsewhere by the stylesheet). */
export function menuButton() {
  const button = h(
    "button",
    {
      type: "button",
      class: "menu-button",
      "aria-label": t("nav.menu"),
      "aria-controls": "sidebar",
      "aria-expanded": "false",
    },
    h("span", { class: "menu-icon", "aria-hidden": "true" }),
  );
  button.addEventListener("click", () => openDrawer(button));
  return button;
}

/** The drawer's own close button, at the top of the sidebar. */
export function closeButton() {
  return h(
    "button",
    { type: "button", class: "drawer-close", "aria-label": t("nav.closeMenu"), onclick: () => closeDrawer() },
    h("span", { "aria-hidden": "true" }, "×"),
  );
}

function openDrawer(button) {
  if (!workspace || !DRAWER.matches) return;
  opener = button;
  workspace.classList.add("nav-open");
  scrim.hidden = false;
  // the rest of the page is out of reach (of the keyboard, the pointer, a screen reader)
  for (const el of workspace.children) if (el !== sidebar && el !== scrim) el.inert = true;
  button.setAttribute("aria-expanded", "true");
  (sidebar.querySelector(".view.active") || sidebar.querySelector("button, a"))?.focus();
}

/** Close the drawer (a view or a page was chosen, Escape, the scrim, the close button). */
export function closeDrawer({ focus = true } = {}) {
  if (!workspace?.classList.contains("nav-open")) return;
  workspace.classList.remove("nav-open");
  scrim.hidden = true;
  for (const el of workspace.children) el.inert = false;
  opener?.setAttribute("aria-expanded", "false");
  if (focus && opener?.isConnected) opener.focus();
  opener = null;
}

DRAWER.addEventListener("change", () => closeDrawer({ focus: false }));

// Escape: closes the drawer, or steps back from the details or a conversation; never while a
// dialog, the canned responses or anything else has used it.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented || !workspace?.isConnected) return;
  if (event.target instanceof Element && event.target.closest("dialog")) return;
  if (workspace.classList.contains("nav-open")) {
    event.preventDefault();
    closeDrawer();
  } else if (!workspace.classList.contains("campaigns-mode") && depth(currentPane()) > 0) {
    event.preventDefault();
    backPane();
  }
});
