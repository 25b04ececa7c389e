// A notice about the room, above the messages: why the reader was taken out
// of a room, or why a room could not be opened. It stays until dismissed
// or until the next notice, in an assertive live region (the region is
// always on the page, so adding the notice is announced).

import { byId, clear, h } from "./dom.js";

export class Notice {
  /** @param {() => void} onDismiss where the focus goes once the notice is gone */
  constructor(onDismiss) {
    this.area = byId("notice-area");
    this.onDismiss = onDismiss;
  }

  show(text) {
    const dismiss = h("button", { type: "button", class: "secondary", text: "Dismiss" });
    const notice = h("div", { class: "notice", id: "room-notice" }, h("p", { text }), dismiss);
    dismiss.addEventListener("click", () => {
      this.clear();
      this.onDismiss();
    });
    clear(this.area);
    this.area.append(notice);
  }

  clear() {
    clear(this.area);
  }
}
