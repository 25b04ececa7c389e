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

export class RoomSession {
  /**
   * @param {object} parts
   * @param {import("./api.js").Api} parts.api
   * @param {{id: number, name: string}} parts.room
   * @param {{id: number, username: string}} parts.me
   * @param {import("./messages.js").MessageList} parts.list
   * @param {import("./composer.js").Composer} parts.composer
   * @param {import("./presence.js").PresenceView} parts.presence
   * @param {import("./status.js").ConnectionStatus} parts.status
   * @param {(code: string) => void} parts.onAuthLost
   * @param {(reason: string) => void} parts.onRemoved the server closed the room to us (4003)
   * @param {(frame: object) => void} parts.onMemberEvent a membership or room setting changed
   * @param {() => void} parts.onConnected each time the socket opens
   */
  constructor(parts) {
    Object.assign(this, parts);
    this.timeline = new Timeline(this.room.id);
    /** @type {Map<string, {clientMsgId: string, content: string, replyTo: number|null, sent: boolean}>} */
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
      if (!this.closed && error.status !== 401) this.composer.showError(describe(error.code, error.message));
      return;
    }
    if (this.closed || page === undefined) return;
    this.list.show(this.timeline.addPage(page, PAGE, false));
    this.list.setHistoryState({ complete: this.timeline.complete, loading: false });
    this.list.scrollToBottom();
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
    });
    this.connection.start();
  }

  close() {
    this.closed = true;
    this.connection?.stop();
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
        this.presence.presence(frame);
        break;
      case "typing":
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

  /** Room settings that changed (a rename, archiving) reach the app; the rest waits for its screen. */
  memberEvents(frames) {
    for (const frame of frames) {
      this.timeline.see(frame);
      this.onMemberEvent(frame);
    }
  }

  applyFrames(frames) {
    const changed = [];
    for (const frame of frames) {
      if (frame.type === "member_event") {
        this.memberEvents([frame]);
        continue;
      }
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
    this.olderInFlight = true;
    this.heldBelow = [];
    this.list.setHistoryState({ complete: false, loading: true });
    try {
      const page = await this.api.history(this.room.id, { before: this.timeline.floor, limit: PAGE });
      if (this.closed) return;
      this.list.show(this.timeline.addPage(page, PAGE, true), { older: true });
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

  send(content, replyTo) {
    const pending = { clientMsgId: randomId(), content, replyTo, sent: false };
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
      this.composer.restore(pending.content, reason);
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
