// The admin panel's users: search by name, page on, disable and enable.
//
// One table row per account (GET api/admin/users). Disabling takes effect
// at once on the server: the person's open pages drop to their log-in
// screen (their sockets close with 4002). The optional reason typed above
// the table goes with the next action into the audit log. A row is redrawn
// from the server's answer, never from what the panel guessed. Searching,
// paging and the rows' bookkeeping are admin_list.js's.

import { byId, h } from "./dom.js";
import { PagedTable } from "./admin_list.js";
import { refusal } from "./errors.js";

const PAGE = 50;

export class UsersView {
  /**
   * @param {import("./admin_api.js").AdminApi} admin
   * @param {import("./people.js").People} people learns every name shown
   */
  constructor(admin, people) {
    this.admin = admin;
    this.people = people;
    this.table = new PagedTable({
      name: "users",
      noun: "user",
      empty: "No user matches.",
      fetch: ({ q, after }) => admin.users({ q, after, limit: PAGE }),
      pageSize: PAGE,
      row: (user) => this.row(user),
    });
    this.status = this.table.status;
    this.reason = byId("users-reason");
  }

  /** Show the first page of accounts whose name contains `search` (all when empty). */
  load(search) {
    return this.table.load(search);
  }

  row(user) {
    this.people.learn(user.id, user.username);
    return h(
      "tr",
      { dataset: { userId: String(user.id) } },
      h("td", {}, h("span", { class: "cell-name", text: user.username }), user.admin && " ", user.admin && badge("admin")),
      h("td", { text: String(user.id) }),
      h("td", {}, badge(state(user))),
      h("td", {}, this.action(user)),
    );
  }

  action(user) {
    if (user.deleted) return "";
    if (user.id === this.people.me.id) return h("span", { class: "hint", text: "You" });
    const verb = user.disabled ? "Enable" : "Disable";
    return h("button", {
      type: "button",
      class: user.disabled ? "" : "danger",
      "aria-label": `${verb} ${user.username}`,
      text: verb,
      onclick: (event) => this.act(user, event.currentTarget),
    });
  }

  async act(user, button) {
    button.disabled = true;
    const reason = this.reason.value.trim();
    let changed;
    try {
      changed = user.disabled
        ? await this.admin.enable(user.id, reason)
        : await this.admin.disable(user.id, reason);
    } catch (error) {
      button.disabled = false;
      if (error.status !== 401) this.status.textContent = `${user.username}: ${refusal(error)}`;
      return;
    }
    this.reason.value = "";
    const row = this.table.redraw(changed);
    this.status.textContent = `${changed.username} is ${changed.disabled ? "disabled" : "enabled again"}.`;
    row?.querySelector("button")?.focus();
  }
}

function state(user) {
  if (user.deleted) return "deleted";
  return user.disabled ? "disabled" : "active";
}

function badge(text) {
  return h("span", { class: `badge badge-${text}`, text });
}
