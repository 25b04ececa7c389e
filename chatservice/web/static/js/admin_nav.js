// The admin panel's sections: one shown at a time, chosen by the buttons of the nav.
//
// Each button says whether its section is the one shown (aria-pressed) and
// names it (aria-controls). A section a reader may not use keeps its button
// hidden.

import { byId } from "./dom.js";

export class Sections {
  /**
   * @param {Record<string, {button: string, section: string, opened?: () => void}>} entries by name
   */
  constructor(entries) {
    this.entries = entries;
    this.current = null;
    for (const [name, entry] of Object.entries(entries)) {
      byId(entry.button).addEventListener("click", () => this.show(name));
    }
  }

  /** Show or hide a section's button (what the reader may use). */
  offer(name, offered) {
    byId(this.entries[name].button).hidden = !offered;
  }

  show(name) {
    this.current = name;
    for (const [other, entry] of Object.entries(this.entries)) {
      const shown = other === name;
      byId(entry.section).hidden = !shown;
      byId(entry.button).setAttribute("aria-pressed", String(shown));
    }
    this.entries[name].opened?.();
  }

  hideAll() {
    this.current = null;
    for (const entry of Object.values(this.entries)) {
      byId(entry.section).hidden = true;
      byId(entry.button).setAttribute("aria-pressed", "false");
    }
  }
}
