// Search: the words of the box, in every room or only the open one.
//
// Results come newest first (GET api/search) and are drawn as text; "More
// results" pages on with `before`. "Show" opens the message's room, and
// marks the message when it is among those loaded.

import { byId, clear, h, onSubmit, timeElement } from "./dom.js";
import { describe } from "./errors.js";

const PAGE = 20;

export class SearchView {
  /**
   * @param {import("./api.js").Api} api
   * @param {object} context
   * @param {() => number|null} context.roomId the open room
   * @param {(roomId: number) => string} context.roomName
   * @param {(message: object) => void} context.show open the message's room
   */
  constructor(api, context) {
    this.api = api;
    this.context = context;
    this.form = byId("search-form");
    this.input = byId("search-input");
    this.panel = byId("search-results");
    this.list = byId("search-list");
    this.summary = byId("search-summary");
    this.more = byId("search-more");
    this.here = byId("search-here");
    this.query = null;
    onSubmit(this.form, () => this.run());
    this.here.addEventListener("change", () => this.query && this.run());
    this.more.addEventListener("click", () => this.page());
    byId("search-close").addEventListener("click", () => this.close());
  }

  async run() {
    const q = this.input.value.trim();
    if (!q) return;
    this.query = { q, roomId: this.here.checked ? this.context.roomId() : null, before: null };
    this.panel.hidden = false;
    clear(this.list);
    this.summary.textContent = "Searching…";
    await this.page();
  }

  async page() {
    const query = this.query;
    this.more.hidden = true;
    let found;
    try {
      found = await this.api.search(query.q, { roomId: query.roomId, before: query.before, limit: PAGE });
    } catch (error) {
      this.summary.textContent = describe(error.code, error.message, error.retryAfter);
      return;
    }
    if (query !== this.query) return; // a newer search started meanwhile
    for (const message of found) this.list.append(this.item(message));
    const count = this.list.children.length;
    this.summary.textContent =
      count === 0 ? "No message has all of these words." : `${count} message${count === 1 ? "" : "s"} found.`;
    if (found.length === PAGE) {
      query.before = found[found.length - 1].id;
      this.more.hidden = false;
    }
  }

  item(message) {
    return h(
      "li",
      {},
      h(
        "p",
        { class: "where" },
        h("span", { class: "author", text: message.username }),
        " in ",
        h("span", { text: this.context.roomName(message.room_id) }),
        " · ",
        timeElement(message.ts),
      ),
      h("p", { class: "content", text: message.content }),
      h("button", { type: "button", class: "link", text: "Show", onclick: () => this.context.show(message) }),
    );
  }

  close() {
    this.panel.hidden = true;
    this.query = null;
    clear(this.list);
    this.input.focus();
  }
}
