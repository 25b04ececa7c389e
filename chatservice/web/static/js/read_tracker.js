// The open room's read marker: moved forward when the page shows the room's newest message.
//
// "Shows" means the tab is visible and the message list is scrolled to its
// bottom (a list too short to scroll is at its bottom). Then the largest
// event id the room has seen is sent as the marker (the server clamps an
// id past the newest message to it, and never moves a marker back); a
// reader scrolled up in the history, or in another tab, leaves the room
// unread. New messages, scrolling and coming back to the tab each check
// again; the sends of a burst are debounced into one. The server answers
// with a `read_marker` frame to every tab of the reader, which clears the
// room's badges (see unread.js).

const DEBOUNCE_MS = 400;

export class ReadTracker {
  /**
   * @param {object} parts
   * @param {import("./messages.js").MessageList} parts.list the room's messages on screen
   * @param {() => number} parts.cursor the largest event id the room has seen
   * @param {() => number} parts.marked the room's marker as last known
   * @param {(lastReadId: number) => void} parts.send move the marker
   */
  constructor({ list, cursor, marked, send }) {
    Object.assign(this, { list, cursor, marked, send });
    this.sent = 0;
    this.timer = null;
    this.check = () => this.schedule();
    list.onShown = this.check;
    list.scroller.addEventListener("scroll", this.check, { passive: true });
    document.addEventListener("visibilitychange", this.check);
    window.addEventListener("focus", this.check);
  }

  /** The id to mark now, or null when the newest message is not shown or already marked. */
  due() {
    if (document.visibilityState !== "visible" || !this.list.atBottom()) return null;
    const id = this.cursor();
    return id > Math.max(this.sent, this.marked()) ? id : null;
  }

  schedule() {
    if (this.timer !== null || this.due() === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const id = this.due();
      if (id === null) return;
      this.sent = id;
      this.send(id);
    }, DEBOUNCE_MS);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.list.onShown === this.check) this.list.onShown = null;
    this.list.scroller.removeEventListener("scroll", this.check);
    document.removeEventListener("visibilitychange", this.check);
    window.removeEventListener("focus", this.check);
  }
}
