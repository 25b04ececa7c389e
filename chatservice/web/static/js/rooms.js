// The rooms panel: the list (the open room marked), invitations, and creating a room.
//
// No frame announces a new room or an invitation, so the list is read
// again whenever it may have changed for the reader: each (re)connection,
// unfolding the panel, coming back to the window, and every minute while
// the page is shown. Private, direct and archived rooms carry an icon
// whose words ("(private room)") are part of the button's name.
//
// On a phone the panel folds away behind the "Rooms" button, which says
// whether it is open (aria-expanded); choosing a room folds it again and
// puts the focus in the message box.
//
// Each room's button also carries its unread and mention counts (from
// `GET /api/rooms`, then `read_marker` and `notification` frames; see
// unread.js): shown as badges, and said in the button's name ("Design,
// 3 unread, 1 mention"). The server stops counting at 100: "99+".

import { byId, clear, h, onSubmit } from "./dom.js";
import { describe } from "./errors.js";
import { Invitations } from "./invitations.js";

const REFRESH_MS = 60_000;
// A burst of notifications reads the list once.
const SOON_MS = 300;
// The server stops counting at this (docs/protocol.md: "100" means 100 or more).
const COUNT_CAP = 100;

/** A count as shown: "99+" at the server's cap. */
export function countText(count) {
  return count >= COUNT_CAP ? `${COUNT_CAP - 1}+` : String(count);
}

/** The badges of a room, as [css kind, shown text, words] triples (none when all is read). */
export function roomBadges(room) {
  const unread = room.unread ?? 0;
  const mentions = room.mention_count ?? 0;
  const badges = [];
  if (unread > 0) badges.push(["unread", countText(unread), `${countText(unread)} unread`]);
  if (mentions > 0) {
    const noun = mentions === 1 ? "mention" : "mentions";
    badges.push(["mention", `@${countText(mentions)}`, `${countText(mentions)} ${noun}`]);
  }
  return badges;
}

/** What sets a room apart in the list, as [css kind, words] pairs. */
export function roomKinds(room) {
  const kinds = [];
  if (room.direct) kinds.push(["direct", "direct message"]);
  else if (room.visibility === "private") kinds.push(["private", "private room"]);
  if (room.archived) kinds.push(["archived", "archived"]);
  return kinds;
}

/** "Design (private room), 3 unread, 1 mention": the button's name when it has counts. */
function roomLabel(name, words, badges) {
  const kinds = words.length ? ` (${words.join(", ")})` : "";
  return [`${name}${kinds}`, ...badges.map(([, , said]) => said)].join(", ");
}

export class RoomList {
  /**
   * @param {import("./api.js").Api} api
   * @param {(room: object) => void} onOpen a room was chosen (or created, or joined)
   */
  constructor(api, onOpen) {
    this.api = api;
    this.onOpen = onOpen;
    this.rooms = [];
    this.currentId = null;
    /** @type {Map<number, {last_read_id: number, unread: number, mention_count: number}>} */
    this.markers = new Map(); // the newest read_marker of each room, which a stale list must not undo
    this.soonTimer = null;
    this.list = byId("room-list");
    this.panel = byId("rooms-panel");
    this.toggle = byId("rooms-toggle");
    this.form = byId("room-form");
    this.nameInput = byId("room-name");
    this.error = byId("room-error");
    this.invitations = new Invitations(api, {
      accepted: (room) => {
        this.add(room);
        this.open(room);
      },
      declined: () => this.refresh(),
    });
    this.toggle.addEventListener("click", () => this.fold(this.panel.classList.contains("open")));
    onSubmit(this.form, () => this.create());
    window.addEventListener("focus", () => this.currentId !== null && this.refresh());
    setInterval(() => {
      if (this.currentId !== null && document.visibilityState === "visible") this.refresh();
    }, REFRESH_MS);
  }

  fold(closed) {
    this.panel.classList.toggle("open", !closed);
    this.toggle.setAttribute("aria-expanded", String(!closed));
    if (closed) return;
    this.panel.querySelector("#room-list button, #invitation-list button")?.focus();
    this.refresh();
  }

  /** Read the list again, quietly (no event announces a new room). */
  refresh() {
    this.load().catch(() => {});
  }

  /** Read the list again shortly (once for a burst of notifications). */
  refreshSoon() {
    if (this.soonTimer !== null) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.refresh();
    }, SOON_MS);
  }

  async load() {
    const rooms = (await this.api.rooms()).map((room) => this.withMarker(room));
    this.rooms = await this.invitations.sort(rooms);
    this.draw();
    return this.rooms;
  }

  /** The room as listed, unless a read_marker frame said newer: its counts then. */
  withMarker(room) {
    const marker = this.markers.get(room.id);
    if (!marker || marker.last_read_id <= (room.last_read_id ?? 0)) return room;
    return { ...room, ...marker };
  }

  /** A `read_marker` frame (this tab or another): the room's counts as the server now has them. */
  marked(frame) {
    const counts = {
      last_read_id: frame.last_read_id,
      unread: frame.unread,
      mention_count: frame.mention_count,
    };
    const known = this.markers.get(frame.room_id);
    if (known && known.last_read_id > counts.last_read_id) return;
    this.markers.set(frame.room_id, counts);
    this.update(frame.room_id, counts);
  }

  /** A `notification` frame: one more unread message (and mention) until the list is read again. */
  bump(roomId, mention) {
    const room = this.find(roomId);
    if (!room) return;
    this.update(roomId, {
      unread: Math.min(COUNT_CAP, (room.unread ?? 0) + 1),
      mention_count: Math.min(COUNT_CAP, (room.mention_count ?? 0) + (mention ? 1 : 0)),
    });
  }

  update(roomId, changes) {
    if (!this.find(roomId)) return;
    this.rooms = this.rooms.map((room) => (room.id === roomId ? { ...room, ...changes } : room));
    this.draw();
  }

  find(roomId) {
    return this.rooms.find((room) => room.id === roomId) ?? null;
  }

  /** A room the reader is now in (a new direct room, say), before the next read of the list. */
  add(room) {
    this.invitations.markJoined(room.id);
    if (!this.find(room.id)) this.rooms = [...this.rooms, room].sort((a, b) => a.id - b.id);
    this.draw();
  }

  /** The room is closed to the reader; it may come back with the next read (a public one). */
  drop(roomId) {
    this.rooms = this.rooms.filter((room) => room.id !== roomId);
    this.draw();
  }

  /** The room's history said "invited": it goes to the invitations. */
  invited(room) {
    this.invitations.markInvited(room);
    this.drop(room.id);
  }

  /** Logged out: forget the markers heard (the next reader has their own). */
  forget() {
    this.markers.clear();
    this.rooms = [];
    this.draw();
  }

  select(roomId) {
    this.currentId = roomId;
    this.draw();
  }

  open(room) {
    this.fold(true);
    this.onOpen(room);
  }

  draw() {
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.roomId : null;
    clear(this.list);
    for (const room of this.rooms) this.list.append(h("li", {}, this.button(room)));
    if (focused) this.list.querySelector(`[data-room-id="${CSS.escape(focused)}"]`)?.focus();
  }

  button(room) {
    const kinds = roomKinds(room);
    const words = kinds.map(([, text]) => text);
    const badges = roomBadges(room);
    return h(
      "button",
      {
        type: "button",
        "aria-current": room.id === this.currentId ? "true" : null,
        // With counts, the name is written out whole: separate hidden words would get a stray space.
        "aria-label": badges.length ? roomLabel(room.name, words, badges) : null,
        dataset: { roomId: String(room.id) },
        title: [...words, room.description].filter(Boolean).join(" · ") || null,
        onclick: () => this.open(room),
      },
      h("span", { class: "room-name", text: room.name }),
      kinds.map(([kind]) => h("span", { class: `kind kind-${kind}`, "aria-hidden": "true" })),
      words.length ? h("span", { class: "visually-hidden", text: `(${words.join(", ")})` }) : null,
      badges.length
        ? [
            h("span", { class: "counts", "aria-hidden": "true" },
              badges.map(([kind, shown]) => h("span", { class: `count count-${kind}`, text: shown }))),
          ]
        : null,
    );
  }

  async create() {
    const name = this.nameInput.value.trim();
    if (!name) return;
    const visibility = this.form.elements.namedItem("visibility").value || "public";
    this.error.textContent = "";
    try {
      const room = await this.api.createRoom(name, { visibility });
      this.add(room);
      this.form.reset(); // name cleared, back to public
      this.open(room);
    } catch (error) {
      this.error.textContent =
        error.code === "conflict"
          ? "A room with that name exists already."
          : describe(error.code, error.message, error.retryAfter);
    }
  }
}
