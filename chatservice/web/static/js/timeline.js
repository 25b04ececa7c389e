// One room's messages as the server has them, built from history pages and frames.
//
// No DOM here: this decides what changed, the views draw it. The rules come
// from docs/protocol.md's timeline: every frame carries the whole message
// in its state as of that event, so a frame replaces what is held by
// message id; a frame older than the one already applied (by event id) is
// ignored, so duplicates from a resume, a catch-up page or a resend change
// nothing; and the largest event id seen (member events included: they
// share the sequence) is the `since` of the next connection.

export class Timeline {
  constructor(roomId) {
    this.roomId = roomId;
    /** @type {Map<number, object>} message id -> Message */
    this.messages = new Map();
    /** @type {Map<number, number>} message id -> event id of the state held (0: from history) */
    this.versions = new Map();
    this.cursor = 0;
    // The smallest message id from which everything is held; null before
    // the first page. Frames about older messages wait for "load older".
    this.floor = null;
    this.complete = false; // the room's first message is held
  }

  /** The id of the timeline event a frame stands for (messages, changes, member events), or null. */
  static eventId(frame) {
    if (frame.type === "message" || frame.type === "member_event") return frame.id;
    if (frame.type === "message_updated") return frame.event_id;
    return null;
  }

  /** Count a frame's event in the cursor, whatever it carries. */
  see(frame) {
    const eventId = Timeline.eventId(frame);
    if (Number.isSafeInteger(eventId)) this.cursor = Math.max(this.cursor, eventId);
  }

  /** The event id a frame stands for and the message it carries, or null for other frames. */
  static unpack(frame) {
    if (frame.type === "message") return { eventId: frame.id, message: frame };
    if (frame.type === "message_updated" && frame.message) {
      return { eventId: frame.event_id, message: frame.message };
    }
    return null;
  }

  /**
   * Take a history page (oldest first).
   * @param {object[]} page
   * @param {number} limit the page size asked for: a shorter page reached the start
   * @param {boolean} older true for a "load older" page, false for the newest
   * @returns {object[]} the messages now held that the page added or replaced
   */
  addPage(page, limit, older) {
    const changed = [];
    for (const message of page) {
      // A frame already applied is at least as new as this page's copy.
      if ((this.versions.get(message.id) ?? 0) > 0) continue;
      this.messages.set(message.id, message);
      this.versions.set(message.id, 0);
      changed.push(message);
      if (!older) this.cursor = Math.max(this.cursor, message.id);
    }
    if (page.length < limit) {
      this.complete = true;
      this.floor = 0;
    } else if (page.length > 0) {
      this.floor = this.floor === null ? page[0].id : Math.min(this.floor, page[0].id);
    }
    if (this.floor === null) this.floor = 0;
    return changed;
  }

  /**
   * Apply a `message` or `message_updated` frame.
   * @returns {{message: object, added: boolean} | {below: true} | null}
   *   what to draw; `below` when it is about a message older than what is
   *   held (kept by the caller for a "load older" in flight); null if stale
   */
  apply(frame) {
    const unpacked = Timeline.unpack(frame);
    if (!unpacked || unpacked.message.room_id !== this.roomId) return null;
    const { eventId, message } = unpacked;
    this.see(frame);
    if (!this.complete && this.floor !== null && message.id < this.floor) return { below: true };
    const held = this.versions.get(message.id);
    if (held !== undefined && held > eventId) return null;
    this.messages.set(message.id, message);
    this.versions.set(message.id, eventId);
    return { message, added: held === undefined };
  }

  /** The oldest message id held, for `before` (null when nothing is held). */
  oldestId() {
    let oldest = null;
    for (const id of this.messages.keys()) if (oldest === null || id < oldest) oldest = id;
    return oldest;
  }
}
