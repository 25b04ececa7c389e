// A panel shown and hidden by a button that says whether it is open (aria-expanded).
//
// Opening puts the focus on the panel's first control; closing (its Close
// button, or Escape inside it) gives the focus back to the button.

export class Disclosure {
  /**
   * @param {HTMLElement} toggle the button (aria-controls names the panel)
   * @param {HTMLElement} panel
   * @param {object} [on]
   * @param {() => void} [on.opened] after the panel is shown
   */
  constructor(toggle, panel, on = {}) {
    this.toggle = toggle;
    this.panel = panel;
    this.on = on;
    toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    panel.querySelector("[data-close]")?.addEventListener("click", () => this.close({ focus: true }));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close({ focus: true });
      }
    });
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  open() {
    this.panel.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    this.on.opened?.();
    this.panel.querySelector("button, input, select, textarea")?.focus();
  }

  close({ focus = false } = {}) {
    const had = this.panel.contains(document.activeElement);
    this.panel.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    if ((focus || had) && !this.toggle.hidden) this.toggle.focus();
  }
}
