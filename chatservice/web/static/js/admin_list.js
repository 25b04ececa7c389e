// A searched, paged table of the admin panel: what the users' and the rooms' lists share.
//
// Both lists search by name, load a page at a time ("More …" asks for the
// ids after the last one shown), say how many rows they show, and redraw a
// row from the server's answer after a change. A generation number drops
// the answer of a search that a newer one replaced. What differs (how a row
// looks, where a page comes from) is passed in, so each view keeps only its
// own actions.
//
// The page's ids follow one pattern, from the table's name ("users"):
// #users-list (the <tbody>), #users-status, #users-more, #users-query and
// the form #users-search.

import { byId, clear, onSubmit } from "./dom.js";
import { refusal } from "./errors.js";

export class PagedTable {
  /**
   * @param {object} parts
   * @param {string} parts.name the prefix of the page's ids ("users")
   * @param {string} parts.noun what one row is ("user"), for "Loading users…" and "2 users shown."
   * @param {string} parts.empty what the status says when nothing matches
   * @param {(query: {q: string, after: number}) => Promise<object[]>} parts.fetch one page, by id
   * @param {number|null} parts.pageSize a page this long may have more after it; null: one page is all
   * @param {(item: object) => HTMLElement} parts.row draws an item's <tr>
   */
  constructor({ name, noun, empty, fetch, pageSize, row }) {
    Object.assign(this, { noun, empty, fetch, pageSize, draw: row });
    this.list = byId(`${name}-list`);
    this.status = byId(`${name}-status`);
    this.more = byId(`${name}-more`);
    this.query = byId(`${name}-query`);
    this.form = byId(`${name}-search`);
    this.search = "";
    this.after = 0;
    this.generation = 0;
    /** @type {Map<number, HTMLElement>} rows by the item's id */
    this.rows = new Map();
    onSubmit(this.form, () => this.load(this.query.value.trim()));
    this.more.addEventListener("click", () => this.page());
  }

  /** Show the first page of items whose name contains `search` (all when empty). */
  load(search = this.search) {
    this.search = search;
    this.after = 0;
    this.generation += 1;
    this.rows.clear();
    clear(this.list);
    return this.page();
  }

  async page() {
    const generation = this.generation;
    this.more.hidden = true;
    this.status.textContent = `Loading ${this.noun}s…`;
    let items;
    try {
      items = await this.fetch({ q: this.search, after: this.after });
    } catch (error) {
      if (generation === this.generation && error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (generation !== this.generation) return;
    for (const item of items) this.put(item);
    this.status.textContent = this.rows.size ? this.shown() : this.empty;
    if (this.pageSize !== null && items.length === this.pageSize) {
      this.after = items[items.length - 1].id;
      this.more.hidden = false;
    }
  }

  /** Draw (or redraw, after a change) one item's row; a new one goes last. */
  put(item) {
    const row = this.draw(item);
    const old = this.rows.get(item.id);
    if (old) old.replaceWith(row);
    else this.list.append(row);
    this.rows.set(item.id, row);
    return row;
  }

  /** Redraw an item's row only where the table shows it; the new row, or null. */
  redraw(item) {
    if (!this.rows.has(item.id)) return null;
    return this.put(item);
  }

  /** The row of an item, if the table shows it. */
  row(id) {
    return this.rows.get(id) ?? null;
  }

  /** An item gone (deleted): its row goes, and the count is said again. */
  drop(id) {
    this.rows.get(id)?.remove();
    this.rows.delete(id);
    this.status.textContent = this.shown();
  }

  /** "3 rooms shown." */
  shown() {
    const count = this.rows.size;
    return `${count} ${this.noun}${count === 1 ? "" : "s"} shown.`;
  }
}
