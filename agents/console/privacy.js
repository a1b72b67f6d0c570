// The Privacy page (#privacy[/TAB]), for admins only (the server answers anyone else 403
// not_allowed, and the sidebar shows them no link): a space's retention policy with its dry
// run (privacy-retention.js), legal holds (privacy-holds.js), visitors' erasure and access
// requests (privacy-requests.js), and the audit trail (privacy-audit.js, its filters in the
// address: #privacy/audit?action=hold.). A tab is a link: Back returns to the previous one.

import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { menuButton } from "./panes.js";
import { me } from "./state.js";
import { auditPanel } from "./privacy-audit.js";
import { holdsPanel } from "./privacy-holds.js";
import { requestsPanel } from "./privacy-requests.js";
import { retentionPanel } from "./privacy-retention.js";

const TABS = ["retention", "holds", "requests", "audit"];
const PANELS = { retention: retentionPanel, holds: holdsPanel, requests: requestsPanel, audit: auditPanel };

let root = null;
let ctx = null;
let token = 0; // the panel on screen; the answers of an older one are dropped
let page = null; // {heading, tabs, body}, once drawn

export function canUsePrivacy() {
  return me()?.role === "admin";
}

export function mountPrivacy(el, context) {
  root = el;
  ctx = context;
}

/** Leave the page: its answers on the way are dropped, and nothing of it stays in the DOM. */
export function hidePrivacy() {
  token += 1;
  page = null;
  if (root) clear(root);
}

/** Show a route: [tab], and the address's query (the audit trail's filters). */
export function showPrivacy(route, query) {
  const tab = TABS.includes(route[0]) ? route[0] : "retention";
  const my = ++token;
  const built = page !== null;
  if (!built) build();
  for (const link of page.tabs.querySelectorAll("a[data-tab]")) {
    if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const panelCtx = { ...ctx, alive: () => my === token };
  clear(page.body, PANELS[tab](panelCtx, query));
  page.body.dataset.tab = tab;
  if (!built) page.heading.focus({ preventScroll: true });
}

function build() {
  const heading = h("h1", { class: "page-title", tabindex: "-1" }, t("privacy.title"));
  const tabs = h(
    "nav",
    { class: "tabs report-tabs privacy-tabs", "aria-label": t("privacy.tabs") },
    TABS.map((name) => h("a", { href: `#privacy/${name}`, class: "tab", dataset: { tab: name } }, t(`privacy.tab.${name}`))),
  );
  const body = h("div", { class: "privacy-body" });
  clear(
    root,
    h(
      "header",
      { class: "page-head" },
      h("div", { class: "page-crumbs" }, menuButton(), h("a", { href: "#", class: "narrow-only back" }, "← ", t("campaigns.toInbox"))),
      h("div", { class: "page-title-row" }, heading, h("span", { class: "chip admin-chip" }, t("privacy.adminOnly"))),
      h("p", { class: "muted page-lead" }, t("privacy.lead")),
    ),
    h("div", { class: "page-body" }, tabs, body),
  );
  page = { heading, tabs, body };
}
