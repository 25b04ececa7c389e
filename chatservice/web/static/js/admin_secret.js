// A secret the server shows once (a webhook's signing secret, a bot's key).
//
// It is put in a read-only field, selected, with a Copy button and a note
// that it will not be shown again: the server keeps only what checks it.
// Closing the box drops the value from the page.

import { clear, h } from "./dom.js";

let boxes = 0;

/**
 * Show `value` in `container` (emptied first).
 * @param {HTMLElement} container
 * @param {string} label what the secret is ("Signing secret of …")
 * @param {string} value
 */
export function showSecret(container, label, value) {
  boxes += 1;
  const id = `secret-${boxes}`;
  const field = h("input", { id, class: "secret-value", readonly: true, spellcheck: "false", autocomplete: "off" });
  field.value = value;
  const status = h("span", { class: "hint", "aria-live": "polite" });
  const copy = h("button", {
    type: "button",
    class: "secondary",
    text: "Copy",
    onclick: async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(value);
        status.textContent = "Copied.";
      } catch {
        status.textContent = "Selected: copy it with Ctrl+C (⌘C).";
      }
    },
  });
  const done = h("button", {
    type: "button",
    class: "secondary",
    text: "Done",
    onclick: () => {
      clear(container);
      container.hidden = true;
    },
  });
  clear(container);
  container.append(
    h("label", { for: id, text: label }),
    h("div", { class: "row wrap" }, field, copy, done, status),
    h("p", { class: "secret-note", text: "Shown once: copy it now. The server will not show it again." }),
  );
  container.hidden = false;
  field.focus();
  field.select();
}

/** Forget a shown secret (another room opened). */
export function hideSecret(container) {
  clear(container);
  container.hidden = true;
}
