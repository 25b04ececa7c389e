// The admin panel's rooms: the list (searched and paged for a server admin),
// and which one is open in the room view below it.
//
// The scope (admin_scope.js) says which rooms: every room for a server
// admin, the rooms one owns or moderates for anyone else. The list also
// remembers the name of every room it showed, for the audit log's lines.

import { byId, clear, h } from "./dom.js";
import { refusal } from "./errors.js";
import { ROOMS_PAGE } from "./admin_scope.js";

export class RoomsView {
  /**
   * @param {object} scope from admin_scope.js
   * @param {(room: object) => void} onManage open a room's view
   */
  constructor(scope, onManage) {
    this.scope = scope;
    this.onManage = onManage;
    this.list = byId("rooms-list");
    this.status = byId("rooms-status");
    this.more = byId("rooms-more");
    this.query = byId("rooms-query");
    this.search = "";
    this.after = 0;
    this.generation = 0;
    /** @type {Map<number, string>} every room name shown, by id */
    this.names = new Map();
    /** @type {Map<number, HTMLElement>} */
    this.rows = new Map();
    byId("rooms-intro").textContent = scope.intro;
    byId("rooms-search").hidden = !scope.admin;
    byId("rooms-search").addEventListener("submit", (event) => {
      event.preventDefault();
      this.load(this.query.value.trim());
    });
    this.more.addEventListener("click", () => this.page());
  }

  /** A room's name, or "room 12" when the list never showed it. */
  roomName(roomId) {
    return this.names.get(roomId) ?? `room ${roomId}`;
  }

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
    this.status.textContent = "Loading rooms…";
    let rooms;
    try {
      rooms = await this.scope.rooms({ q: this.search, after: this.after });
    } catch (error) {
      if (generation === this.generation && error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (generation !== this.generation) return;
    for (const room of rooms) this.put(room);
    this.status.textContent = this.rows.size
      ? `${this.rows.size} room${this.rows.size === 1 ? "" : "s"} shown.`
      : this.scope.empty;
    if (this.scope.admin && rooms.length === ROOMS_PAGE) {
      this.after = rooms[rooms.length - 1].id;
      this.more.hidden = false;
    }
  }

  /** Draw (or redraw, after a change) one room's row. */
  put(room) {
    this.names.set(room.id, room.name);
    const row = h(
      "tr",
      { dataset: { roomId: String(room.id) } },
      h("td", {}, h("span", { class: "cell-name", text: room.name })),
      h("td", { text: kind(room) }),
      h("td", {}, room.archived ? h("span", { class: "badge badge-archived", text: "archived" }) : "open"),
      h(
        "td",
        {},
        h("button", {
          type: "button",
          class: "secondary",
          "aria-label": `Manage ${room.name}`,
          text: "Manage",
          onclick: () => this.onManage(room),
        }),
      ),
    );
    const old = this.rows.get(room.id);
    if (old) old.replaceWith(row);
    else this.list.append(row);
    this.rows.set(room.id, row);
  }

  /** The "Manage" button of a room's row, if the list shows it. */
  button(roomId) {
    return this.rows.get(roomId)?.querySelector("button") ?? null;
  }

  /** A room deleted from the room view: its row goes. */
  drop(roomId) {
    this.rows.get(roomId)?.remove();
    this.rows.delete(roomId);
    this.status.textContent = `${this.rows.size} room${this.rows.size === 1 ? "" : "s"} shown.`;
  }
}

export function kind(room) {
  if (room.direct) return "direct";
  return room.visibility === "private" ? "private" : "public";
}
