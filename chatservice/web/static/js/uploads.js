// The files waiting to go with the next message: chosen with the "Attach
// files" button, dropped on the message box or pasted into it.
//
// Each file is uploaded as soon as it is chosen (POST api/uploads), so
// sending only names the upload ids. While a file goes up its line says
// how far it is; a refusal (too large, over the quota, too many at once)
// is written next to the button in a live region, never in a dialog, and
// the file leaves the tray. A file can be removed (its upload cancelled)
// before sending; an upload never sent is collected by the server.

import { humanSize } from "./attachments.js";
import { byId, h } from "./dom.js";
import { describe } from "./errors.js";

// docs/protocol.md: 1 to 10 attachments per message.
export const MAX_FILES = 10;

const UPLOAD_SENTENCES = {
  payload_too_large: "is too large to upload here.",
  quota_exceeded: "does not fit: you have used all the space this server gives you for files.",
  rate_limited: "waits: too many uploads in a minute. Try again shortly.",
};

export class AttachmentTray {
  /**
   * @param {import("./api.js").Api} api
   * @param {() => void} onChange the tray's content or state changed
   */
  constructor(api, onChange = () => {}) {
    this.api = api;
    this.onChange = onChange;
    this.button = byId("attach-button");
    this.input = byId("attach-input");
    this.list = byId("attach-list");
    this.error = byId("attach-error");
    /** @type {{file: File|null, name: string, size: number, upload: object|null, abort: AbortController|null, item: HTMLElement}[]} */
    this.entries = [];
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = "";
    });
  }

  /** Take files dropped or pasted elsewhere (the message box). */
  acceptFrom(element) {
    element.addEventListener("dragover", (event) => {
      if (this.button.disabled || !event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    element.addEventListener("drop", (event) => {
      if (this.button.disabled || !event.dataTransfer?.files.length) return;
      event.preventDefault();
      this.add([...event.dataTransfer.files]);
    });
    element.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (this.button.disabled || files.length === 0) return;
      event.preventDefault();
      this.add(files);
    });
  }

  add(files) {
    this.showError("");
    const room = MAX_FILES - this.entries.length;
    if (files.length > room) {
      this.showError(`At most ${MAX_FILES} files go with one message.`);
      files = files.slice(0, Math.max(0, room));
    }
    for (const file of files) this.start(file);
  }

  start(file) {
    const entry = { file, name: file.name, size: file.size, upload: null, abort: new AbortController() };
    entry.item = this.itemFor(entry);
    this.entries.push(entry);
    this.list.append(entry.item);
    this.onChange();
    const progress = entry.item.querySelector("progress");
    this.api
      .upload(file, {
        signal: entry.abort.signal,
        onProgress: (sent, total) => {
          if (total > 0) progress.value = sent / total;
        },
      })
      .then((upload) => {
        entry.upload = upload;
        entry.abort = null;
        this.redraw(entry);
      })
      .catch((error) => {
        if (error.code === "aborted") return;
        this.drop(entry);
        const why = UPLOAD_SENTENCES[error.code];
        this.showError(
          why ? `“${entry.name}” ${why}` : `“${entry.name}” was not uploaded: ${describe(error.code, error.message, error.retryAfter)}`,
        );
      });
  }

  itemFor(entry) {
    const state = entry.upload
      ? h("span", { class: "attach-state", text: "ready" })
      : h(
          "span",
          { class: "attach-state" },
          "uploading… ",
          h("progress", { max: "1", value: "0", "aria-label": `Uploading ${entry.name}` }),
        );
    return h(
      "li",
      { class: entry.upload ? "ready" : "uploading" },
      h("span", { class: "file-name", text: entry.name }),
      " ",
      h("span", { class: "file-size", text: `(${humanSize(entry.size)})` }),
      " ",
      state,
      " ",
      h("button", {
        type: "button",
        class: "link",
        text: "Remove",
        "aria-label": `Remove ${entry.name}`,
        onclick: () => {
          entry.abort?.abort();
          this.drop(entry);
          this.button.focus();
        },
      }),
    );
  }

  redraw(entry) {
    if (!this.entries.includes(entry)) return;
    const item = this.itemFor(entry);
    entry.item.replaceWith(item);
    entry.item = item;
    this.onChange();
  }

  drop(entry) {
    const at = this.entries.indexOf(entry);
    if (at < 0) return;
    this.entries.splice(at, 1);
    entry.item.remove();
    this.onChange();
  }

  /** Whether a file is still on its way up. */
  busy() {
    return this.entries.some((entry) => entry.upload === null);
  }

  /** The uploaded files, in the order they were chosen. */
  uploads() {
    return this.entries.filter((entry) => entry.upload !== null).map((entry) => entry.upload);
  }

  /** Empty the tray (the files went with a message, or the room changed). */
  clear() {
    for (const entry of this.entries) entry.abort?.abort();
    this.entries = [];
    this.list.replaceChildren();
    this.onChange();
  }

  /** Files of a message the server refused: back into the tray, ready to send again. */
  restore(uploads) {
    if (this.entries.length > 0) return;
    for (const upload of uploads) {
      const entry = { file: null, name: upload.name, size: upload.size, upload, abort: null };
      entry.item = this.itemFor(entry);
      this.entries.push(entry);
      this.list.append(entry.item);
    }
    this.onChange();
  }

  /** No attaching in an archived room. */
  setDisabled(disabled) {
    this.button.disabled = disabled;
  }

  showError(text) {
    this.error.textContent = text;
  }
}
