// Who is online in the room and who is typing, from `presence` and `typing` frames.
//
// The API announces changes only (a user's first socket in the room opened,
// or their last one closed); it has no list of who was already there. So
// the list starts with the reader and grows with the announcements heard
// since the room was opened, plus anyone heard typing (typing needs a
// socket in the room). A typing notice lasts a few seconds unless renewed,
// and ends when that person's message arrives.

import { byId } from "./dom.js";

const TYPING_SHOWN_MS = 4000;

export class PresenceView {
  constructor() {
    this.onlineText = byId("online-list");
    this.typingText = byId("typing");
    /** @type {Map<number, string>} */
    this.online = new Map();
    /** @type {Map<number, {username: string, timer: number}>} */
    this.typists = new Map();
  }

  /** A new room: only the reader is known to be there. */
  reset(me) {
    this.me = me;
    for (const { timer } of this.typists.values()) clearTimeout(timer);
    this.typists.clear();
    this.online = new Map([[me.id, me.username]]);
    this.draw();
  }

  presence(frame) {
    if (frame.status === "online") this.online.set(frame.user_id, frame.username);
    else if (frame.user_id !== this.me.id) {
      this.online.delete(frame.user_id);
      this.stopTyping(frame.user_id);
    }
    this.draw();
  }

  typing(frame) {
    if (frame.user_id === this.me.id) return;
    this.online.set(frame.user_id, frame.username);
    const known = this.typists.get(frame.user_id);
    if (known) clearTimeout(known.timer);
    const timer = setTimeout(() => this.stopTyping(frame.user_id), TYPING_SHOWN_MS);
    this.typists.set(frame.user_id, { username: frame.username, timer });
    this.draw();
  }

  stopTyping(userId) {
    const known = this.typists.get(userId);
    if (!known) return;
    clearTimeout(known.timer);
    this.typists.delete(userId);
    this.draw();
  }

  draw() {
    const names = [...this.online.entries()]
      .map(([id, name]) => (id === this.me.id ? `${name} (you)` : name))
      .sort((a, b) => a.localeCompare(b));
    this.onlineText.textContent = `Online: ${names.join(", ")}`;
    const typists = [...this.typists.values()].map((t) => t.username).sort((a, b) => a.localeCompare(b));
    if (typists.length === 0) this.typingText.textContent = "";
    else if (typists.length === 1) this.typingText.textContent = `${typists[0]} is typing…`;
    else if (typists.length <= 3) this.typingText.textContent = `${typists.join(", ")} are typing…`;
    else this.typingText.textContent = "Several people are typing…";
  }
}
