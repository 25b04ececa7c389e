// Room settings, for its owner and moderators: name, description, archiving, the audit log.
//
// PATCH api/rooms/{id} saves; the change also comes back to every page of
// the room as a member event (room_updated, room_archived), which redraws
// the title and the composer there. Refusals are
// written under the form that was refused, in the server's words.

import { AuditLog } from "./audit.js";
import { byId, onSubmit } from "./dom.js";
import { refusal } from "./errors.js";

export class SettingsPanel {
  /**
   * @param {import("./api.js").Api} api
   * @param {import("./people.js").People} people
   * @param {(room: object) => void} onUpdated the server's Room after a change
   */
  constructor(api, people, onUpdated) {
    this.api = api;
    this.onUpdated = onUpdated;
    this.room = null;
    this.panel = byId("settings-panel");
    this.form = byId("settings-form");
    this.name = byId("settings-name");
    this.description = byId("settings-description");
    this.error = byId("settings-error");
    this.saved = byId("settings-saved");
    this.archiveForm = byId("archive-form");
    this.archiveReason = byId("archive-reason");
    this.archiveButton = byId("archive-button");
    this.archiveError = byId("archive-error");
    this.audit = new AuditLog(api, people);
    onSubmit(this.form, () => this.save());
    onSubmit(this.archiveForm, () => this.archive());
  }

  /** A room opened (or its settings changed): fill the fields, unless one is being typed in. */
  setRoom(room) {
    const other = room.id !== this.room?.id;
    this.room = room;
    if (other || !this.form.contains(document.activeElement)) {
      this.name.value = room.name;
      this.description.value = room.description ?? "";
    }
    if (other) {
      for (const text of [this.error, this.saved, this.archiveError]) text.textContent = "";
      this.archiveReason.value = "";
    }
    this.archiveButton.textContent = room.archived ? "Unarchive this room" : "Archive this room";
    this.archiveButton.className = room.archived ? "" : "danger";
  }

  /** The panel opened: the log as it is now. */
  opened() {
    if (this.room) this.audit.load(this.room.id);
  }

  async save() {
    const room = this.room;
    const changes = {};
    const name = this.name.value.trim();
    if (name !== room.name) changes.name = name;
    if (this.description.value !== (room.description ?? "")) changes.description = this.description.value;
    this.error.textContent = "";
    this.saved.textContent = "";
    if (Object.keys(changes).length === 0) {
      this.saved.textContent = "Nothing to save.";
      return;
    }
    await this.run(this.error, () => this.api.updateRoom(room.id, changes));
    if (!this.error.textContent) this.saved.textContent = "Saved.";
  }

  async archive() {
    const room = this.room;
    const reason = this.archiveReason.value.trim();
    const changes = { archived: !room.archived, ...(reason ? { reason } : {}) };
    this.archiveError.textContent = "";
    await this.run(this.archiveError, () => this.api.updateRoom(room.id, changes));
    if (!this.archiveError.textContent) this.archiveReason.value = "";
  }

  async run(error, call) {
    try {
      this.onUpdated(await call());
      if (!this.panel.hidden) this.audit.load(this.room.id);
    } catch (failure) {
      if (failure.status !== 401) error.textContent = refusal(failure);
    }
  }
}
