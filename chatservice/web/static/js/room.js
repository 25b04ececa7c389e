// One open room: its history, its socket, and everything sent into it.
//
// The order of opening follows docs/protocol.md: read the newest page of
// history, then connect with `since` = the newest event id of that page,
// so whatever happened in between is replayed, once. After that the socket
// carries every change; when it drops, it reconnects with the largest
// event id seen. A `recovery` frame saying `recovered: false` means the
// server could not replay everything: the gap is paged from api/events
// while live frames keep coming, and the timeline drops the duplicates.
//
// Member events ("bob joined", "alice muted carol") are drawn among the
// messages. History pages hold messages only, so the member events of the
// span a page covers are read from api/events next to it (a page or two:
// lines of a busier span are left out); live ones come with the socket.
//
// New messages go over the socket with a client_msg_id, shown as pending
// until the server's own frame comes back. While the socket is down they
// wait, and are sent (again) on every reconnection: the id makes a resend
// safe, the server stores it once. Edits, deletes and reactions go through
// the REST routes, whose answers say plainly what went wrong; their result
// comes back to every page (this one too) as a `message_updated` frame.

import { RoomConnection } from "./connection.js";
import { randomId } from "./dom.js";
import { describe } from "./errors.js";
import { retrying } from "./retry.js";
import { Timeline } from "./timeline.js";

const PAGE = 50;
const EVENTS_PAGE = 500;
// Past this many pages of missed events, reading the newest page is quicker.
const MAX_CATCH_UP_PAGES = 20;
const CATCH_UP_RETRY_MS = 2000;
// How many pages of api/events to read for the member events of a history page.
const EVENT_LINE_PAGES = 2;

export class RoomSession {
  /**
   * @param {object} parts
   * @param {import("./api.js").Api} parts.api
   * @param {{id: number, name: string}} parts.room
   * @param {{id: number, username: string}} parts.me
   * @param {import("./messages.js").MessageList} parts.list
   * @param {import("./people.js").People} parts.people who the messages' authors are
   * @param {import("./composer.js").Composer} parts.composer
   * @param {import("./presence.js").PresenceView} parts.presence
   * @param {import("./status.js").ConnectionStatus} parts.status
   * @param {(code: string) => void} parts.onAuthLost
   * @param {(reason: string) => void} parts.onRemoved the server closed the room to us (4003)
   * @param {(error: import("./api.js").ApiError) => void} parts.onRefused the history was
   *   refused (403: invited, or banned; 404: gone)
   * @param {(frame: object) => void} parts.onMemberEvent a membership or room setting changed
   * @param {() => void} parts.onConnected each time the socket opens
   */
  constructor(parts) {
    Object.assign(this, parts);
    this.timeline = new Timeline(this.room.id);
    /** @type {Map<string, {clientMsgId: string, content: string, replyTo: number|null, uploads: object[], sent: boolean}>} */
    this.pending = new Map();
    this.connection = null;
    this.closed = false;
    this.olderInFlight = false;
    this.heldBelow = [];
    this.catchingUp = false;
  }

  async open() {
    this.list.reset();
    this.presence.reset(this.me);
    this.status.set("connecting");
    let page;
    try {
      page = await retrying(() => this.api.history(this.room.id, { limit: PAGE }), {
        cancelled: () => this.closed,
        onWait: (delayMs) => this.status.set("reconnecting", { delayMs }),
      });
    } catch (error) {
      if (this.closed || error.status === 401) return;
      if (error.status === 403 || error.status === 404) this.onRefused(error);
      else this.composer.showError(describe(error.code, error.message));
      return;
    }
    if (this.closed || page === undefined) return;
    page.forEach((message) => this.people.learnFrom(message));
    this.list.show(this.timeline.addPage(page, PAGE, false));
    this.list.setHistoryState({ complete: this.timeline.complete, loading: false });
    this.list.scrollToBottom();
    this.loadEventLines(this.timeline.floor, null);
    this.connection = new RoomConnection({
      api: this.api,
      roomId: this.room.id,
      cursor: () => this.timeline.cursor,
      onFrame: (frame) => this.frame(frame),
      onState: (state, detail) => this.connectionState(state, detail),
      onOpen: () => {
        this.flushPending();
        this.onConnected();
      },
      onAuthLost: (code) => this.onAuthLost(code),
      onRemoved: (reason) => this.onRemoved(reason),
      check: () => this.stillReadable(),
    });
    this.connection.start();
  }

  close() {
    this.closed = true;
    this.connection?.stop();
  }

  /** After a refused handshake: is the room still ours to read? (403/404: no, say so.) */
  async stillReadable() {
    try {
      await this.api.history(this.room.id, { limit: 1 });
    } catch (error) {
      if (this.closed) return false;
      if (error.status === 403 || error.status === 404) {
        this.connection?.stop();
        this.onRefused(error);
        return false;
      }
    }
    return !this.closed;
  }

  connectionState(state, detail) {
    if (this.closed) return;
    this.status.set(state, detail);
    if (state === "reconnecting") {
      for (const pending of this.pending.values()) {
        if (pending.sent) {
          pending.sent = false;
          this.list.showPending(pending);
        }
      }
    }
  }

  frame(frame) {
    switch (frame.type) {
      case "message":
      case "message_updated":
        this.applyFrames([frame]);
        break;
      case "presence":
        this.people.learnFrom(frame);
        this.presence.presence(frame);
        break;
      case "typing":
        this.people.learnFrom(frame);
        this.presence.typing(frame);
        break;
      case "error":
        this.refused(frame);
        break;
      case "member_event":
        this.memberEvents([frame]);
        break;
      case "recovery":
        if (!frame.recovered) this.catchUp(Math.max(frame.last_id, this.timeline.cursor));
        break;
      default:
        break; // a frame type from a newer server: nothing to draw
    }
  }

  /** Member events: a line each among the messages, and the app follows what they change. */
  memberEvents(frames) {
    const mine = frames.filter((frame) => frame.room_id === this.room.id);
    for (const frame of mine) this.timeline.see(frame);
    this.list.showEvents(mine);
    for (const frame of mine) this.onMemberEvent(frame);
  }

  /**
   * Draw the member events between two message ids (`below` null: up to now),
   * read from api/events. Only lines: what they changed is in the room as
   * it was read, and later changes come with the socket.
   */
  async loadEventLines(from, below) {
    let after = Math.max(0, (from ?? 1) - 1);
    try {
      for (let pages = 0; pages < EVENT_LINE_PAGES; pages += 1) {
        const events = await this.api.events(this.room.id, after, EVENTS_PAGE);
        if (this.closed) return;
        const lines = events.filter((e) => e.type === "member_event" && (below === null || e.id < below));
        this.list.showEvents(lines);
        const last = events.length ? Timeline.eventId(events[events.length - 1]) : null;
        if (events.length < EVENTS_PAGE || last === null || (below !== null && last >= below)) return;
        after = last;
      }
    } catch {
      // Lines only: the messages are all there without them.
    }
  }

  applyFrames(frames) {
    const changed = [];
    for (const frame of frames) {
      if (frame.type === "member_event") {
        this.memberEvents([frame]);
        continue;
      }
      this.people.learnFrom(frame);
      if (frame.type === "message") this.confirmed(frame);
      const result = this.timeline.apply(frame);
      if (result === null) continue;
      if (result.below) {
        if (this.olderInFlight) this.heldBelow.push(frame);
        continue;
      }
      changed.push(result.message);
    }
    this.list.show(changed);
  }

  /** A message frame: the end of its sender's typing, and of our pending copy. */
  confirmed(message) {
    this.presence.stopTyping(message.sender_id);
    const id = message.client_msg_id;
    if (message.sender_id === this.me.id && id && this.pending.delete(id)) this.list.removePending(id);
  }

  /** Page through missed events (docs/protocol.md: recovered false). */
  async catchUp(after) {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      for (let pages = 0; pages < MAX_CATCH_UP_PAGES; pages += 1) {
        const events = await this.api.events(this.room.id, after, EVENTS_PAGE);
        if (this.closed) return;
        this.applyFrames(events);
        if (events.length < EVENTS_PAGE) return;
        after = Timeline.eventId(events[events.length - 1]) ?? after;
      }
      this.reopen();
    } catch (error) {
      if (this.closed || error.status === 401) return;
      setTimeout(() => {
        this.catchingUp = false;
        if (!this.closed) this.catchUp(after);
      }, CATCH_UP_RETRY_MS);
      return;
    } finally {
      if (!this.closed) this.catchingUp = false;
    }
  }

  /** Start the room afresh from its newest page (too far behind to page through). */
  reopen() {
    this.connection?.stop();
    this.connection = null;
    this.timeline = new Timeline(this.room.id);
    this.open();
  }

  async loadOlder() {
    if (this.olderInFlight || this.timeline.complete || this.timeline.floor === null) return;
    const below = this.timeline.floor;
    this.olderInFlight = true;
    this.heldBelow = [];
    this.list.setHistoryState({ complete: false, loading: true });
    try {
      const page = await this.api.history(this.room.id, { before: this.timeline.floor, limit: PAGE });
      if (this.closed) return;
      page.forEach((message) => this.people.learnFrom(message));
      this.list.show(this.timeline.addPage(page, PAGE, true), { older: true });
      this.loadEventLines(this.timeline.complete ? 0 : this.timeline.floor, below);
      // Changes that came live while the page was read are at least as new.
      const held = this.heldBelow;
      this.heldBelow = [];
      this.applyFrames(held);
    } catch (error) {
      if (!this.closed && error.status !== 401) this.composer.showError(describe(error.code, error.message));
    } finally {
      this.olderInFlight = false;
      if (!this.closed) this.list.setHistoryState({ complete: this.timeline.complete, loading: false });
    }
  }

  /** Draw every message held again (the reader's rights changed: which actions show). */
  redraw() {
    this.list.show([...this.timeline.messages.values()]);
  }

  send(content, replyTo, uploads = []) {
    const pending = { clientMsgId: randomId(), content, replyTo, uploads, sent: false };
    this.pending.set(pending.clientMsgId, pending);
    pending.sent = this.connection?.send(this.messageFrame(pending)) ?? false;
    this.list.showPending(pending);
    return true;
  }

  messageFrame(pending) {
    return {
      type: "message",
      content: pending.content,
      client_msg_id: pending.clientMsgId,
      reply_to: pending.replyTo,
      ...(pending.uploads.length > 0 ? { attachments: pending.uploads.map((upload) => upload.id) } : {}),
    };
  }

  flushPending() {
    for (const pending of this.pending.values()) {
      pending.sent = this.connection.send(this.messageFrame(pending));
      this.list.showPending(pending);
    }
  }

  /** An `error` frame: our pending message goes back to the box, with the reason next to it. */
  refused(frame) {
    const reason = describe(frame.code, frame.error);
    const pending = frame.client_msg_id ? this.pending.get(frame.client_msg_id) : undefined;
    if (pending) {
      this.pending.delete(pending.clientMsgId);
      this.list.removePending(pending.clientMsgId);
      this.composer.restore(pending.content, reason, pending.uploads);
    } else {
      this.composer.showError(reason);
    }
  }

  typing() {
    this.connection?.send({ type: "typing" });
  }

  async change(call) {
    try {
      await call();
      return true;
    } catch (error) {
      if (error.status !== 401) {
        this.composer.showError(describe(error.code, error.message, error.retryAfter));
      }
      return false;
    }
  }

  edit(messageId, content) {
    return this.change(() => this.api.edit(messageId, content));
  }

  remove(message) {
    return this.change(() => this.api.remove(message.id));
  }

  react(message, emoji, add) {
    return this.change(() => this.api.react(message.id, emoji, add));
  }
}
