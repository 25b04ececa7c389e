// The open room's audit log (GET api/rooms/{id}/audit), for its owner and moderators.
//
// Newest first, a page at a time ("Older entries" pages on with `before`).
// Entries name users by id; People gives the names it knows.

import { byId, clear, h, timeElement } from "./dom.js";
import { refusal } from "./errors.js";

const PAGE = 50;

const WORDS = {
  kicked: "kicked",
  banned: "banned",
  unbanned: "unbanned",
  muted: "muted",
  unmuted: "unmuted",
  role_changed: "changed the role of",
  room_updated: "edited the room",
  room_archived: "archived the room",
  room_unarchived: "unarchived the room",
  room_deleted: "deleted the room",
  // A server admin's (the admin panel shows the whole log).
  user_disabled: "disabled",
  user_enabled: "enabled",
  user_messages_erased: "erased the messages of",
};

/** One entry as a sentence: "alice muted bob: spam". */
export function auditText(entry, people) {
  const name = (id, you) => (id === people.me.id ? you : people.name(id));
  const actor = entry.actor_id === null ? "Someone" : name(entry.actor_id, "You");
  const target = entry.target_user_id === null ? "" : ` ${name(entry.target_user_id, "you")}`;
  const text = `${actor} ${WORDS[entry.action] ?? entry.action}${target}`;
  return entry.reason ? `${text}: ${entry.reason}` : text;
}

export class AuditLog {
  /**
   * @param {import("./api.js").Api} api
   * @param {import("./people.js").People} people
   */
  constructor(api, people) {
    this.api = api;
    this.people = people;
    this.list = byId("audit-list");
    this.more = byId("audit-more");
    this.status = byId("audit-status");
    this.roomId = null;
    this.before = null;
    this.entries = [];
    this.more.addEventListener("click", () => this.page());
    people.onChange(() => this.draw());
  }

  /** Read the newest page of a room's log. */
  load(roomId) {
    this.roomId = roomId;
    this.before = null;
    this.entries = [];
    this.draw();
    return this.page();
  }

  async page() {
    const roomId = this.roomId;
    this.more.hidden = true;
    this.status.textContent = "Loading the audit log…";
    let entries;
    try {
      entries = await this.api.audit(roomId, { before: this.before ?? undefined, limit: PAGE });
    } catch (error) {
      if (roomId === this.roomId && error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (roomId !== this.roomId) return;
    this.entries.push(...entries);
    this.draw();
    this.status.textContent = this.entries.length ? "" : "Nothing recorded yet.";
    if (entries.length === PAGE) {
      this.before = entries[entries.length - 1].id;
      this.more.hidden = false;
    }
  }

  draw() {
    clear(this.list);
    for (const entry of this.entries) {
      this.list.append(
        h("li", {}, timeElement(entry.at), " ", h("span", { text: auditText(entry, this.people) })),
      );
    }
  }
}
