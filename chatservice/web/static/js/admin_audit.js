// A page-at-a-time view of audit entries: the whole log, or one room's.
//
// Newest first; "Older entries" pages on with `before`. Entries name users
// and rooms by id: People gives the names the panel knows, `names` asks the
// server for the others (a server admin's scope can), and a name learned
// later redraws the list.

import { auditText } from "./audit.js";
import { clear, h, timeElement } from "./dom.js";
import { refusal } from "./errors.js";

const PAGE = 50;

export class AuditPager {
  /**
   * @param {object} parts
   * @param {HTMLElement} parts.list the <ol> to draw into
   * @param {HTMLElement} parts.status a polite live region
   * @param {HTMLElement} parts.more the "Older entries" button
   * @param {import("./people.js").People} parts.people
   * @param {(roomId: number) => string|null} [parts.roomName] names rooms (the whole log's entries)
   */
  constructor({ list, status, more, people, roomName = null }) {
    Object.assign(this, { list, status, more, people, roomName });
    this.fetch = null;
    this.names = async () => {};
    this.entries = [];
    this.before = null;
    this.generation = 0;
    more.addEventListener("click", () => this.page());
    people.onChange(() => this.draw());
  }

  /**
   * Read the newest page.
   * @param {(before: number|undefined, limit: number) => Promise<object[]>} fetch
   * @param {(ids: number[]) => Promise<void>} [names] learns unknown users' names
   */
  load(fetch, names) {
    this.fetch = fetch;
    if (names) this.names = names;
    this.generation += 1;
    this.entries = [];
    this.before = null;
    this.draw();
    return this.page();
  }

  async page() {
    const generation = this.generation;
    this.more.hidden = true;
    this.status.textContent = "Loading the audit log…";
    let entries;
    try {
      entries = await this.fetch(this.before ?? undefined, PAGE);
    } catch (error) {
      if (generation === this.generation && error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (generation !== this.generation) return;
    this.entries.push(...entries);
    this.status.textContent = this.entries.length ? "" : "Nothing recorded yet.";
    if (entries.length === PAGE) {
      this.before = entries[entries.length - 1].id;
      this.more.hidden = false;
    }
    this.draw();
    const ids = entries.flatMap((entry) => [entry.actor_id, entry.target_user_id]).filter((id) => id !== null);
    this.names(ids).catch(() => {}); // names are a nicety: "user 12" until known
  }

  draw() {
    clear(this.list);
    for (const entry of this.entries) {
      const room = this.roomName && entry.room_id !== null ? ` (in ${this.roomName(entry.room_id)})` : "";
      this.list.append(
        h("li", {}, timeElement(entry.at), " ", h("span", { text: auditText(entry, this.people) + room })),
      );
    }
  }
}
