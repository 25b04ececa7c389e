// The message box: send, reply, edit, typing notices, and the server's refusals.
//
// Enter sends and Shift+Enter adds a line (not while an input method is
// composing a character). A refusal (rate limited, too long, forbidden…)
// is written under the box, in a live region, never in a dialog, and the
// text stays there to be fixed and sent again.
//
// Above the box a line says why the reader may not post: an archived room
// (the box is disabled: nobody may post) or a mute. A muted reader's box
// stays usable: the page only infers the mute (from the members list and
// member events) and the server decides; a post it refuses comes back
// with its sentence.
//
// Files (uploads.js) go with the next message sent, which may then have no
// text; while one is still uploading, sending waits for it and says so.

import { byId, onSubmit } from "./dom.js";

const TYPING_EVERY_MS = 2500;

export class Composer {
  /**
   * @param {object} on
   * @param {(text: string, replyTo: number|null, uploads: object[]) => boolean} on.send true when taken
   * @param {(messageId: number, text: string) => Promise<boolean>} on.edit true when saved
   * @param {() => void} on.typing
   * @param {import("./uploads.js").AttachmentTray} tray the files for the next message
   */
  constructor(on, tray) {
    this.on = on;
    this.tray = tray;
    this.form = byId("composer");
    this.input = byId("composer-input");
    this.label = byId("composer-label");
    this.error = byId("composer-error");
    this.state = byId("composer-state");
    this.room = null;
    this.muted = false;
    this.context = byId("composer-context");
    this.contextText = byId("composer-context-text");
    this.mode = null; // null, {reply: message} or {edit: message}
    this.lastTyping = 0;
    onSubmit(this.form, () => this.submit());
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.input.addEventListener("input", () => this.typed());
    byId("composer-cancel").addEventListener("click", () => this.cancel());
    tray.acceptFrom(this.form);
  }

  keydown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    } else if (event.key === "Escape" && this.mode) {
      event.preventDefault();
      this.cancel();
    }
  }

  typed() {
    const now = Date.now();
    if (this.input.value.trim() && !this.mode?.edit && now - this.lastTyping > TYPING_EVERY_MS) {
      this.lastTyping = now;
      this.on.typing();
    }
  }

  async submit() {
    const text = this.input.value.trim();
    if (this.mode?.edit) {
      if (!text) return;
      this.showError("");
      const saved = await this.on.edit(this.mode.edit.id, text);
      if (saved) this.reset();
      return;
    }
    const uploads = this.tray.uploads();
    if (!text && uploads.length === 0 && !this.tray.busy()) return;
    if (this.tray.busy()) {
      this.showError("Wait until the files have uploaded, then send.");
      return;
    }
    this.showError("");
    // False while no room is open yet: the text and files stay.
    if (this.on.send(text, this.mode?.reply?.id ?? null, uploads)) {
      this.reset();
      this.tray.clear();
    }
  }

  reset() {
    this.input.value = "";
    this.lastTyping = 0;
    this.setMode(null);
  }

  /** Name the room in the box's label; an archived room cannot be written to. */
  setRoom(room, { keepText = false } = {}) {
    if (room.id !== this.room?.id) this.muted = false;
    this.room = room;
    this.drawState();
    if (keepText) return;
    this.reset();
    this.tray.clear();
    this.tray.showError("");
    this.showError("");
  }

  /** The reader is muted in the room (or no longer). */
  setMuted(muted) {
    if (this.muted === muted) return;
    this.muted = muted;
    this.drawState();
  }

  drawState() {
    const archived = Boolean(this.room.archived);
    const name = this.room.name;
    let state = "";
    if (archived) state = "This room is archived: it is read-only.";
    else if (this.muted) state = "You are muted in this room: you can read it, but not post.";
    this.label.textContent = `Message ${name}`;
    this.input.placeholder = state || `Message ${name}`;
    this.input.disabled = archived;
    this.form.querySelector('button[type="submit"]').disabled = archived;
    this.tray.setDisabled(archived);
    this.state.textContent = state;
    this.form.dataset.state = archived ? "archived" : this.muted ? "muted" : "open";
  }

  replyTo(message) {
    this.setMode({ reply: message });
    this.input.focus();
  }

  edit(message) {
    this.setMode({ edit: message });
    this.input.value = message.content;
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  cancel() {
    const editing = Boolean(this.mode?.edit);
    this.setMode(null);
    if (editing) this.input.value = "";
    this.input.focus();
  }

  setMode(mode) {
    this.mode = mode;
    this.context.hidden = !mode;
    if (mode?.reply) {
      const content = mode.reply.content;
      const excerpt = content.length > 80 ? `${content.slice(0, 80)}…` : content;
      this.contextText.textContent = `Replying to ${mode.reply.username}: ${excerpt}`;
    } else if (mode?.edit) {
      this.contextText.textContent = "Editing your message";
    } else {
      this.contextText.textContent = "";
    }
  }

  /** A message the server did not take: back into the box (if empty), with the reason. */
  restore(text, reason, uploads = []) {
    if (!this.input.value.trim()) this.input.value = text;
    if (uploads.length > 0) this.tray.restore(uploads);
    this.showError(reason);
  }

  showError(text) {
    this.error.textContent = text;
  }

  focus() {
    this.input.focus();
  }
}
