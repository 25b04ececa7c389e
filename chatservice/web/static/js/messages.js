// The room's message list on screen: ordered by id, one item per message.
//
// Items are keyed by message id, so a message drawn twice (a resume, a
// catch-up page, a resend) replaces itself instead of appearing again.
// Messages of several processes may arrive slightly out of order, so each
// goes to its place by id. The view follows new messages only while the
// reader is at the bottom, and keeps the reader's place when older ones
// are added above.

import { byId, clear } from "./dom.js";
import { messageItem, pendingItem } from "./message_view.js";

const NEAR_BOTTOM_PX = 48;

export class MessageList {
  constructor({ me, handlers }) {
    this.me = me;
    this.handlers = handlers;
    this.scroller = byId("timeline");
    this.list = byId("messages");
    this.pendingList = byId("pending");
    this.olderButton = byId("load-older");
    this.startNote = byId("history-start");
    /** @type {number[]} ids on screen, ascending */
    this.ids = [];
  }

  reset() {
    clear(this.list);
    clear(this.pendingList);
    this.ids = [];
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
  }

  upsert(message) {
    const item = messageItem(message, this.me, this.handlers);
    const existing = document.getElementById(`message-${message.id}`);
    if (existing) {
      // Keep keyboard focus on the same action of the redrawn message.
      const focused = existing.contains(document.activeElement) ? document.activeElement : null;
      const action = focused?.dataset?.action;
      existing.replaceWith(item);
      if (focused) {
        const again = action ? item.querySelector(`[data-action="${CSS.escape(action)}"]`) : null;
        (again ?? item.querySelector("button") ?? this.scroller).focus();
      }
      return;
    }
    const index = this.insertionIndex(message.id);
    const next = index < this.ids.length ? document.getElementById(`message-${this.ids[index]}`) : null;
    this.list.insertBefore(item, next);
    this.ids.splice(index, 0, message.id);
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
    const item = pendingItem(pending, this.me);
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
