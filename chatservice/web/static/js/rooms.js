// The rooms panel: the list (the open room marked), and creating a room.
//
// No frame announces a new room, so the list is read again whenever it may
// have changed for the reader: each (re)connection, unfolding the panel,
// and coming back to the window.
//
// On a phone the panel folds away behind the "Rooms" button, which says
// whether it is open (aria-expanded); choosing a room folds it again and
// puts the focus in the message box.

import { byId, clear, h } from "./dom.js";
import { describe } from "./errors.js";

export class RoomList {
  /**
   * @param {import("./api.js").Api} api
   * @param {(room: object) => void} onOpen a room was chosen (or created)
   */
  constructor(api, onOpen) {
    this.api = api;
    this.onOpen = onOpen;
    this.rooms = [];
    this.currentId = null;
    this.list = byId("room-list");
    this.panel = byId("rooms-panel");
    this.toggle = byId("rooms-toggle");
    this.form = byId("room-form");
    this.nameInput = byId("room-name");
    this.error = byId("room-error");
    this.toggle.addEventListener("click", () => this.fold(this.panel.classList.contains("open")));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    window.addEventListener("focus", () => this.currentId !== null && this.refresh());
  }

  fold(closed) {
    this.panel.classList.toggle("open", !closed);
    this.toggle.setAttribute("aria-expanded", String(!closed));
    if (closed) return;
    this.list.querySelector("button")?.focus();
    this.refresh();
  }

  /** Read the list again, quietly (no event announces a new room). */
  refresh() {
    this.load().catch(() => {});
  }

  async load() {
    this.rooms = await this.api.rooms();
    this.draw();
    return this.rooms;
  }

  find(roomId) {
    return this.rooms.find((room) => room.id === roomId) ?? null;
  }

  select(roomId) {
    this.currentId = roomId;
    this.draw();
  }

  draw() {
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.roomId : null;
    clear(this.list);
    for (const room of this.rooms) {
      const current = room.id === this.currentId;
      this.list.append(
        h(
          "li",
          {},
          h("button", {
            type: "button",
            "aria-current": current ? "true" : null,
            dataset: { roomId: String(room.id) },
            title: room.description || null,
            text: room.name,
            onclick: () => {
              this.fold(true);
              this.onOpen(room);
            },
          }),
        ),
      );
    }
    if (focused) this.list.querySelector(`[data-room-id="${CSS.escape(focused)}"]`)?.focus();
  }

  async create() {
    const name = this.nameInput.value.trim();
    if (!name) return;
    this.error.textContent = "";
    try {
      const room = await this.api.createRoom(name);
      this.rooms.push(room);
      this.nameInput.value = "";
      this.fold(true);
      this.onOpen(room);
    } catch (error) {
      this.error.textContent =
        error.code === "conflict"
          ? "A room with that name exists already."
          : describe(error.code, error.message, error.retryAfter);
    }
  }
}
