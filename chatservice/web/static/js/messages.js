// The room's message list on screen: ordered by id, one item per message,
// and a compact line per member event ("bob joined"), which shares the
// messages' id sequence and so takes its place among them.
//
// Items are keyed by id, so a message drawn twice (a resume, a catch-up
// page, a resend) replaces itself instead of appearing again.
// Messages of several processes may arrive slightly out of order, so each
// goes to its place by id. The view follows new messages only while the
// reader is at the bottom, and keeps the reader's place when older ones
// are added above.

import { byId, clear, h, timeElement } from "./dom.js";
import { eventText } from "./member_events.js";
import { messageItem, pendingItem } from "./message_view.js";

const NEAR_BOTTOM_PX = 48;

export class MessageList {
  /**
   * @param {object} parts
   * @param {import("./people.js").People} parts.people the reader, and names for member events
   * @param {object} parts.handlers a message's actions (see message_view.js)
   */
  constructor({ people, handlers }) {
    this.people = people;
    this.handlers = handlers;
    this.scroller = byId("timeline");
    this.list = byId("messages");
    this.pendingList = byId("pending");
    this.olderButton = byId("load-older");
    this.startNote = byId("history-start");
    /** @type {number[]} ids on screen (messages and member events), ascending */
    this.ids = [];
    /** @type {Map<number, HTMLElement>} */
    this.items = new Map();
    /** @type {Map<number, object>} member events on screen, by id */
    this.events = new Map();
    people.onChange(() => this.renameEvents());
  }

  reset() {
    clear(this.list);
    clear(this.pendingList);
    this.ids = [];
    this.items.clear();
    this.events.clear();
    this.setHistoryState({ complete: false, loading: false });
  }

  atBottom() {
    const { scrollHeight, scrollTop, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Draw messages (new or changed); `older` keeps the reader's place. */
  show(messages, { older = false } = {}) {
    if (messages.length === 0) return;
    const follow = !older && this.atBottom();
    const before = this.scroller.scrollHeight;
    for (const message of messages) this.upsert(message);
    if (older) this.scroller.scrollTop += this.scroller.scrollHeight - before;
    else if (follow) this.scrollToBottom();
    this.onShown?.();
  }

  /** Draw member events (a repeat of one on screen changes nothing). */
  showEvents(events) {
    const fresh = events.filter((event) => Number.isSafeInteger(event.id) && !this.events.has(event.id));
    if (fresh.length === 0) return;
    const follow = this.atBottom();
    for (const event of fresh) {
      this.events.set(event.id, event);
      const before = this.scroller.scrollHeight;
      const item = this.eventItem(event);
      this.place(event.id, item);
      // A line added above what the reader looks at must not move it.
      const above = item.getBoundingClientRect().bottom <= this.scroller.getBoundingClientRect().top;
      if (!follow && above) this.scroller.scrollTop += this.scroller.scrollHeight - before;
    }
    if (follow) this.scrollToBottom();
  }

  eventItem(event) {
    return h(
      "li",
      { id: `event-${event.id}`, class: "member-event", dataset: { id: String(event.id) } },
      h("span", { class: "event-text", text: eventText(event, this.people) }),
      " ",
      timeElement(event.ts),
    );
  }

  /** Names learned since: the lines that said "user 12" say who it was. */
  renameEvents() {
    for (const [id, event] of this.events) {
      const text = this.items.get(id)?.querySelector(".event-text");
      const now = eventText(event, this.people);
      if (text && text.textContent !== now) text.textContent = now;
    }
  }

  upsert(message) {
    const item = messageItem(message, this.people.me, this.handlers);
    const existing = this.items.get(message.id);
    if (existing) {
      // Keep keyboard focus on the same action of the redrawn message.
      const focused = existing.contains(document.activeElement) ? document.activeElement : null;
      const action = focused?.dataset?.action;
      existing.replaceWith(item);
      this.items.set(message.id, item);
      if (focused) {
        const again = action ? item.querySelector(`[data-action="${CSS.escape(action)}"]`) : null;
        (again ?? item.querySelector("button") ?? this.scroller).focus();
      }
      return;
    }
    this.place(message.id, item);
  }

  /** Put a new item where its id belongs. */
  place(id, item) {
    const index = this.insertionIndex(id);
    const next = index < this.ids.length ? this.items.get(this.ids[index]) : null;
    this.list.insertBefore(item, next ?? null);
    this.ids.splice(index, 0, id);
    this.items.set(id, item);
  }

  insertionIndex(id) {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.ids[middle] < id) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Show or update a message not yet confirmed by the server. */
  showPending(pending) {
    const item = pendingItem(pending, this.people.me);
    const existing = document.getElementById(item.id);
    if (existing) existing.replaceWith(item);
    else this.pendingList.append(item);
    this.scrollToBottom();
  }

  removePending(clientMsgId) {
    document.getElementById(`pending-${clientMsgId}`)?.remove();
  }

  setHistoryState({ complete, loading }) {
    this.olderButton.hidden = complete;
    this.olderButton.disabled = loading;
    this.olderButton.textContent = loading ? "Loading…" : "Load older messages";
    this.startNote.hidden = !complete;
  }

  /** Bring one message into view and mark it for a moment (search results). */
  reveal(messageId) {
    const item = document.getElementById(`message-${messageId}`);
    if (!item) return false;
    item.scrollIntoView({ block: "center" });
    item.classList.add("highlight");
    item.addEventListener("focusout", () => item.classList.remove("highlight"), { once: true });
    item.querySelector("button")?.focus();
    return true;
  }
}
