// What the room view's webhook and bot panels share: a form that makes one
// thing whose secret the server shows once (admin_secret.js), and the room
// the panel is open on.
//
// The room is read when an action starts: an answer that arrives after the
// view moved to another room (or closed) is dropped, never drawn into the
// wrong room. A refusal is written next to the form's field, which gets the
// focus back; a new thing's secret is shown, and the panel reloads its list.

import { byId, onSubmit } from "./dom.js";
import { refusal } from "./errors.js";
import { hideSecret, showSecret } from "./admin_secret.js";

export class FormPanel {
  /**
   * @param {object} ids the page's ids of the panel's parts
   * @param {string} ids.form the creation form
   * @param {string} ids.field its text field (emptied on open and after success)
   * @param {string} ids.error where a refusal is written
   * @param {string} ids.secret the box of a new secret
   */
  constructor({ form, field, error, secret }) {
    this.room = null;
    this.form = byId(form);
    this.field = byId(field);
    this.error = byId(error);
    this.secret = byId(secret);
    onSubmit(this.form, () => this.create());
  }

  /** The form was sent (each panel's own). */
  create() {
    throw new Error("a FormPanel creates");
  }

  /** Reload the panel's list (each panel's own). */
  load() {
    throw new Error("a FormPanel loads");
  }

  open(room) {
    this.room = room;
    this.field.value = "";
    this.error.textContent = "";
    hideSecret(this.secret);
    this.load();
  }

  /** The room's view closed: its secret leaves the page. */
  close() {
    this.room = null;
    hideSecret(this.secret);
  }

  /**
   * Make a thing of the current room and show its secret once.
   * @param {(room: object) => Promise<object>} make the request
   * @param {(made: object) => [string, string]} secretOf the secret's label and value
   */
  async made(make, secretOf) {
    const room = this.room;
    let made;
    try {
      made = await make(room);
    } catch (error) {
      if (room === this.room && error.status !== 401) {
        this.error.textContent = refusal(error);
        this.field.focus();
      }
      return;
    }
    if (room !== this.room) return;
    this.field.value = "";
    showSecret(this.secret, ...secretOf(made));
    this.load();
  }
}
