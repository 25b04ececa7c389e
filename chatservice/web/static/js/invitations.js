// Invitations: the private rooms the reader is asked into, with Accept and Decline.
//
// GET api/rooms lists the private rooms the reader is in *or* invited to,
// and a Room does not say which. What does: the members list of a room
// the reader is in answers 200, and 403 ("join it before reading it") for
// one they are only invited to. So each private room of unknown standing
// is asked once; the answer is remembered until the room leaves the list
// (a room opened anyway, whose history answers that 403, is marked here
// too). Accept is POST api/rooms/{id}/join, Decline POST .../leave; a
// refusal is written next to the buttons, in the server's words.

import { byId, clear, h } from "./dom.js";
import { refusal } from "./errors.js";

const JOINED = "joined";
const INVITED = "invited";

export class Invitations {
  /**
   * @param {import("./api.js").Api} api
   * @param {object} on
   * @param {(room: object) => void} on.accepted the reader joined the room
   * @param {(room: object) => void} on.declined the invitation is gone
   */
  constructor(api, on) {
    this.api = api;
    this.on = on;
    /** @type {Map<number, string>} room id -> "joined" or "invited" (private rooms) */
    this.states = new Map();
    /** @type {object[]} */
    this.rooms = [];
    this.section = byId("invitations");
    this.list = byId("invitation-list");
  }

  /** Sort a fresh room list: the rooms the reader may open, and (drawn here) the invitations. */
  async sort(rooms) {
    const listed = new Set(rooms.map((room) => room.id));
    for (const id of this.states.keys()) if (!listed.has(id)) this.states.delete(id);
    const unknown = rooms.filter((room) => this.asks(room) && !this.states.has(room.id));
    await Promise.all(unknown.map((room) => this.probe(room)));
    this.rooms = rooms.filter((room) => this.states.get(room.id) === INVITED);
    this.draw();
    return rooms.filter((room) => this.states.get(room.id) !== INVITED);
  }

  /** Only a private room can be an invitation (a direct room is joined by both from the start). */
  asks(room) {
    return room.visibility === "private" && !room.direct;
  }

  async probe(room) {
    try {
      await this.api.members(room.id);
      this.states.set(room.id, JOINED);
    } catch (error) {
      // 403: invited, not joined. Anything else: let opening the room tell.
      if (error.status === 403) this.states.set(room.id, INVITED);
    }
  }

  markJoined(roomId) {
    this.states.set(roomId, JOINED);
  }

  /** The room turned out to be an invitation (its history said so). */
  markInvited(room) {
    this.states.set(room.id, INVITED);
    if (!this.rooms.some((other) => other.id === room.id)) this.rooms.push(room);
    this.draw();
  }

  draw() {
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    clear(this.list);
    this.section.hidden = this.rooms.length === 0;
    for (const room of this.rooms) this.list.append(this.item(room));
    if (focused) this.list.querySelector(`[data-action="${CSS.escape(focused)}"]`)?.focus();
  }

  item(room) {
    const error = h("p", { class: "error", "aria-live": "polite" });
    const button = (action, text, className, run) =>
      h(
        "button",
        {
          type: "button",
          class: className,
          dataset: { action: `${action}:${room.id}` },
          onclick: () => this.answer(room, run, error),
        },
        text,
        h("span", { class: "visually-hidden", text: ` ${room.name}` }),
      );
    return h(
      "li",
      { class: "invitation", dataset: { roomId: String(room.id) } },
      h("p", {}, h("span", { class: "visually-hidden", text: "Invited to " }), h("strong", { text: room.name })),
      room.description ? h("p", { class: "hint", text: room.description }) : null,
      h(
        "div",
        { class: "row" },
        button("accept", "Accept", "", () => this.accept(room)),
        button("decline", "Decline", "secondary", () => this.decline(room)),
      ),
      error,
    );
  }

  async answer(room, run, error) {
    error.textContent = "";
    try {
      await run();
    } catch (failure) {
      if (failure.status !== 401) error.textContent = refusal(failure);
    }
  }

  async accept(room) {
    await this.api.joinRoom(room.id);
    this.states.set(room.id, JOINED);
    this.forget(room.id);
    this.on.accepted(room);
  }

  async decline(room) {
    await this.api.leaveRoom(room.id);
    this.states.delete(room.id);
    this.forget(room.id);
    this.on.declined(room);
  }

  forget(roomId) {
    this.rooms = this.rooms.filter((room) => room.id !== roomId);
    this.draw();
  }
}
