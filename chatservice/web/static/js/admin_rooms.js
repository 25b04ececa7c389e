// The admin panel's rooms: the list (searched and paged for a server admin),
// and which one is open in the room view below it.
//
// The scope (admin_scope.js) says which rooms: every room for a server
// admin, the rooms one owns or moderates for anyone else. The list also
// remembers the name of every room it showed, for the audit log's lines.
// Searching, paging and the rows' bookkeeping are admin_list.js's.

import { byId, h } from "./dom.js";
import { PagedTable } from "./admin_list.js";
import { ROOMS_PAGE } from "./admin_scope.js";

export class RoomsView {
  /**
   * @param {object} scope from admin_scope.js
   * @param {(room: object) => void} onManage open a room's view
   */
  constructor(scope, onManage) {
    this.scope = scope;
    this.onManage = onManage;
    /** @type {Map<number, string>} every room name shown, by id */
    this.names = new Map();
    this.table = new PagedTable({
      name: "rooms",
      noun: "room",
      empty: scope.empty,
      fetch: (query) => scope.rooms(query),
      // An owner's scope answers all their rooms at once.
      pageSize: scope.admin ? ROOMS_PAGE : null,
      row: (room) => this.row(room),
    });
    byId("rooms-intro").textContent = scope.intro;
    this.table.form.hidden = !scope.admin;
  }

  /** A room's name, or "room 12" when the list never showed it. */
  roomName(roomId) {
    return this.names.get(roomId) ?? `room ${roomId}`;
  }

  load(search) {
    return this.table.load(search);
  }

  /** Draw (or redraw, after a change) one room's row. */
  put(room) {
    this.table.put(room);
  }

  row(room) {
    this.names.set(room.id, room.name);
    return h(
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
  }

  /** The "Manage" button of a room's row, if the list shows it. */
  button(roomId) {
    return this.table.row(roomId)?.querySelector("button") ?? null;
  }

  /** A room deleted from the room view: its row goes. */
  drop(roomId) {
    this.table.drop(roomId);
  }
}

export function kind(room) {
  if (room.direct) return "direct";
  return room.visibility === "private" ? "private" : "public";
}
