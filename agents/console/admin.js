// Admin: agents (roles, capacity, spaces, passwords), teams and canned responses, in one
// dialog; and the agent's own password change. Names, spaces and texts are bidi-isolated.

import { patch, post, del } from "./api.js";
import { bidi, bidiText, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { keysPanel } from "./keys.js";
import { webhooksPanel } from "./webhooks.js";

const ROLES = ["relation", "marketing", "admin"];

function dialogShell(titleId, title, onClose) {
  const dialog = h("dialog", { class: "dialog wide", "aria-labelledby": titleId });
  const close = h("button", { type: "button", class: "btn ghost small close", "aria-label": t("common.close") }, "×");
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    onClose?.();
  });
  const body = h("div", { class: "dialog-body" });
  dialog.append(h("div", { class: "dialog-head" }, h("h2", { id: titleId }, title), close), body);
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body };
}

export function openAdmin(ctx) {
  const { body } = dialogShell("admin-title", t("admin.title"), () => ctx.reload());
  const tabs = ["agents", "teams", "canned", "keys", "webhooks"];
  const panel = h("div", { class: "tab-panel", role: "tabpanel", tabindex: "0" });
  const tabButtons = tabs.map((tab) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${tab}`,
        class: "tab",
        "aria-selected": String(tab === "agents"),
        "aria-controls": "admin-panel",
        tabindex: tab === "agents" ? "0" : "-1",
        onclick: () => show(tab),
      },
      t(`admin.${tab}`),
    ),
  );
  panel.id = "admin-panel";
  const tablist = h("div", { role: "tablist", class: "tabs", "aria-label": t("admin.title") }, tabButtons);
  tablist.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const index = tabButtons.indexOf(document.activeElement);
    const next = tabButtons[(index + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    next.click();
  });
  body.append(tablist, panel);

  async function show(tab) {
    for (const b of tabButtons) {
      const selected = b.id === `tab-${tab}`;
      b.setAttribute("aria-selected", String(selected));
      b.tabIndex = selected ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `tab-${tab}`);
    try {
      await ctx.reload();
      if (tab === "agents") agentsPanel(ctx, panel, () => show("agents"));
      if (tab === "teams") teamsPanel(ctx, panel, () => show("teams"));
      if (tab === "canned") cannedPanel(ctx, panel, () => show("canned"));
      if (tab === "keys") await keysPanel(ctx, panel, () => show("keys"));
      if (tab === "webhooks") await webhooksPanel(ctx, panel, () => show("webhooks"));
    } catch (err) {
      ctx.handleError(err);
    }
  }
  show("agents");
}

async function act(ctx, fn, after) {
  try {
    await fn();
    ctx.toast(t("admin.saved"));
    after();
  } catch (err) {
    ctx.handleError(err);
  }
}

function spaceKeys(ctx) {
  return ctx.state.session.spaces.map((s) => s.key);
}

function agentsPanel(ctx, panel, again) {
  const agents = [...ctx.state.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  const rows = agents.map((a) => {
    const role = h(
      "select",
      { "aria-label": `${t("admin.role")} · ${a.name}` },
      ROLES.map((r) => h("option", { value: r, selected: r === a.role }, t(`role.${r}`))),
    );
    const max = h("input", { type: "number", min: "0", max: "100", value: String(a.max_chats), "aria-label": `${t("admin.maxChats")} · ${a.name}`, class: "narrow" });
    const spaces = spaceKeys(ctx).map((key) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", value: key, checked: a.spaces.includes(key) }), bidi(key)),
    );
    const save = h("button", { type: "button", class: "btn small primary" }, t("common.save"));
    save.addEventListener("click", () =>
      act(
        ctx,
        () =>
          patch(`/api/agents/${encodeURIComponent(a.id)}`, {
            role: role.value,
            max_chats: Number(max.value),
            spaces: spaces.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
          }),
        again,
      ),
    );
    const reset = h("button", { type: "button", class: "btn small ghost" }, t("admin.resetPassword"));
    reset.addEventListener("click", () => {
      const input = h("input", { type: "password", minlength: "8", autocomplete: "new-password", "aria-label": t("admin.newPassword", { name: a.name }) });
      const ok = h("button", { type: "button", class: "btn small primary" }, t("common.save"));
      ok.addEventListener("click", () =>
        act(ctx, () => post(`/api/agents/${encodeURIComponent(a.id)}/password`, { password: input.value }), again),
      );
      reset.replaceWith(h("span", { class: "inline-form" }, input, ok));
      input.focus();
    });
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, bidi(a.name), a.email ? h("div", { class: "muted small" }, bidi(a.email)) : null),
      h("td", { "data-label": t("admin.role") }, role),
      h("td", { "data-label": t("admin.maxChats") }, max),
      h("td", { "data-label": t("admin.spaces") }, spaces),
      h("td", { class: "row-actions" }, save, reset),
    );
  });
  const name = h("input", { id: "new-agent-name", required: true, maxlength: "200" });
  const email = h("input", { id: "new-agent-email", type: "email", required: true });
  const password = h("input", { id: "new-agent-password", type: "password", minlength: "8", required: true, autocomplete: "new-password" });
  const role = h("select", { id: "new-agent-role" }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
  const spaces = spaceKeys(ctx).map((key, i) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: key, checked: i === 0 }), bidi(key)),
  );
  const form = h(
    "form",
    { class: "grid-form" },
    h("h3", {}, t("admin.newAgent")),
    h("label", { for: "new-agent-name" }, t("admin.name")),
    name,
    h("label", { for: "new-agent-email" }, t("admin.email")),
    email,
    h("label", { for: "new-agent-password" }, t("admin.password")),
    password,
    h("label", { for: "new-agent-role" }, t("admin.role")),
    role,
    h("fieldset", {}, h("legend", {}, t("admin.spaces")), spaces),
    h("button", { type: "submit", class: "btn primary" }, t("admin.createAgent")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(
      ctx,
      () =>
        post("/api/agents", {
          name: name.value,
          email: email.value,
          password: password.value,
          role: role.value,
          spaces: spaces.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
        }),
      again,
    );
  });
  clear(
    panel,
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, [t("admin.name"), t("admin.role"), t("admin.maxChats"), t("admin.spaces"), ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
    form,
  );
}

function teamsPanel(ctx, panel, again) {
  const agents = [...ctx.state.agents.values()];
  const cards = ctx.state.teams.map((team) => {
    const boxes = agents
      .filter((a) => a.spaces.includes(team.space))
      .map((a) => h("label", { class: "check" }, h("input", { type: "checkbox", value: a.id, checked: team.members.includes(a.id) }), bidi(a.name)));
    const save = h("button", { type: "button", class: "btn small primary" }, t("common.save"));
    save.addEventListener("click", () =>
      act(
        ctx,
        () =>
          patch(`/api/teams/${encodeURIComponent(team.id)}`, {
            members: boxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
          }),
        again,
      ),
    );
    const remove = h("button", { type: "button", class: "btn small danger" }, t("common.delete"));
    remove.addEventListener("click", () => act(ctx, () => del(`/api/teams/${encodeURIComponent(team.id)}`), again));
    return h(
      "section",
      { class: "card" },
      h("h3", {}, bidi(team.name), h("span", { class: "chip small space" }, bidi(team.space))),
      h("fieldset", {}, h("legend", {}, t("admin.members")), boxes),
      h("div", { class: "row-actions" }, save, remove),
    );
  });
  const name = h("input", { id: "new-team-name", required: true, maxlength: "100" });
  const space = h("select", { id: "new-team-space" }, spaceKeys(ctx).map((k) => h("option", { value: k }, bidiText(k))));
  const form = h(
    "form",
    { class: "grid-form" },
    h("h3", {}, t("admin.newTeam")),
    h("label", { for: "new-team-name" }, t("admin.teamName")),
    name,
    h("label", { for: "new-team-space" }, t("admin.space")),
    space,
    h("button", { type: "submit", class: "btn primary" }, t("common.add")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(ctx, () => post("/api/teams", { name: name.value, space: space.value }), again);
  });
  clear(panel, h("div", { class: "cards" }, cards), form);
}

function cannedPanel(ctx, panel, again) {
  const teamName = (id) => ctx.state.teams.find((team) => team.id === id)?.name || t("admin.everyone");
  const rows = ctx.state.canned.map((c) => {
    const text = h("textarea", { rows: "2", "aria-label": `${t("admin.text")} · /${c.shortcut}` });
    text.value = c.body;
    const save = h("button", { type: "button", class: "btn small primary" }, t("common.save"));
    save.addEventListener("click", () => act(ctx, () => patch(`/api/canned/${encodeURIComponent(c.id)}`, { body: text.value }), again));
    const remove = h("button", { type: "button", class: "btn small danger" }, t("common.delete"));
    remove.addEventListener("click", () => act(ctx, () => del(`/api/canned/${encodeURIComponent(c.id)}`), again));
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, "/", bidi(c.shortcut)),
      h("td", { "data-label": t("admin.team") }, bidi(c.space), " · ", bidi(teamName(c.team_id))),
      h("td", { "data-label": t("admin.text") }, text),
      h("td", { class: "row-actions" }, save, remove),
    );
  });
  const shortcut = h("input", { id: "new-canned-shortcut", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,31}" });
  const space = h("select", { id: "new-canned-space" }, spaceKeys(ctx).map((k) => h("option", { value: k }, bidiText(k))));
  const team = h(
    "select",
    { id: "new-canned-team" },
    h("option", { value: "" }, t("admin.everyone")),
    ctx.state.teams.map((tm) => h("option", { value: tm.id }, `${bidiText(tm.name)} (${bidiText(tm.space)})`)),
  );
  const text = h("textarea", { id: "new-canned-text", required: true, rows: "3" });
  const form = h(
    "form",
    { class: "grid-form" },
    h("h3", {}, t("admin.canned")),
    h("label", { for: "new-canned-shortcut" }, t("admin.shortcut")),
    shortcut,
    h("label", { for: "new-canned-space" }, t("admin.space")),
    space,
    h("label", { for: "new-canned-team" }, t("admin.team")),
    team,
    h("label", { for: "new-canned-text" }, t("admin.text")),
    text,
    h("button", { type: "submit", class: "btn primary" }, t("common.add")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(
      ctx,
      () =>
        post("/api/canned", {
          shortcut: shortcut.value.trim().toLowerCase(),
          space: space.value,
          team_id: team.value || null,
          body: text.value,
        }),
      again,
    );
  });
  clear(
    panel,
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, [t("admin.shortcut"), t("admin.team"), t("admin.text"), ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
    form,
  );
}

export function openPassword(ctx) {
  const { dialog, body } = dialogShell("password-title", t("nav.password"));
  const current = h("input", { id: "pw-current", type: "password", required: true, autocomplete: "current-password" });
  const fresh = h("input", { id: "pw-new", type: "password", required: true, minlength: "8", autocomplete: "new-password" });
  const form = h(
    "form",
    { class: "grid-form" },
    h("label", { for: "pw-current" }, t("password.current")),
    current,
    h("label", { for: "pw-new" }, t("password.new")),
    fresh,
    h("button", { type: "submit", class: "btn primary" }, t("common.save")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const session = await post("/api/session/password", {
        current_password: current.value,
        new_password: fresh.value,
      });
      ctx.sessionChanged(session);
      ctx.toast(t("password.changed"));
      dialog.close();
    } catch (err) {
      ctx.handleError(err);
    }
  });
  body.append(form);
  current.focus();
}

