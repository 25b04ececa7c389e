// The admin panel's users: search by name, page on, disable and enable.
//
// One table row per account (GET api/admin/users). Disabling takes effect
// at once on the server: the person's open pages drop to their log-in
// screen (their sockets close with 4002). The optional reason typed above
// the table goes with the next action into the audit log. A row is redrawn
// from the server's answer, never from what the panel guessed.

import { byId, clear, h } from "./dom.js";
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
    this.list = byId("users-list");
    this.status = byId("users-status");
    this.more = byId("users-more");
    this.query = byId("users-query");
    this.reason = byId("users-reason");
    this.search = "";
    this.after = 0;
    this.generation = 0;
    /** @type {Map<number, HTMLElement>} rows by user id */
    this.rows = new Map();
    byId("users-search").addEventListener("submit", (event) => {
      event.preventDefault();
      this.load(this.query.value.trim());
    });
    this.more.addEventListener("click", () => this.page());
  }

  /** Show the first page of accounts whose name contains `search` (all when empty). */
  load(search = this.search) {
    this.search = search;
    this.after = 0;
    this.generation += 1;
    this.rows.clear();
    clear(this.list);
    return this.page();
  }

  async page() {
    const generation = this.generation;
    this.more.hidden = true;
    this.status.textContent = "Loading users…";
    let users;
    try {
      users = await this.admin.users({ q: this.search, after: this.after, limit: PAGE });
    } catch (error) {
      if (generation === this.generation && error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (generation !== this.generation) return;
    for (const user of users) {
      this.people.learn(user.id, user.username);
      const row = this.row(user);
      this.rows.set(user.id, row);
      this.list.append(row);
    }
    this.status.textContent = this.rows.size
      ? `${this.rows.size} user${this.rows.size === 1 ? "" : "s"} shown.`
      : "No user matches.";
    if (users.length === PAGE) {
      this.after = users[users.length - 1].id;
      this.more.hidden = false;
    }
  }

  row(user) {
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
    const row = this.row(changed);
    this.rows.get(user.id)?.replaceWith(row);
    this.rows.set(user.id, row);
    this.status.textContent = `${changed.username} is ${changed.disabled ? "disabled" : "enabled again"}.`;
    row.querySelector("button")?.focus();
  }
}

function state(user) {
  if (user.deleted) return "deleted";
  return user.disabled ? "disabled" : "active";
}

function badge(text) {
  return h("span", { class: `badge badge-${text}`, text });
}
