// How a message's files look: an image as a thumbnail linking to the
// whole file, anything else as a download link with its name and size.
//
// File names are text (a file called "<b>x</b>.txt" shows those
// characters). The server writes its signed links as paths from its own
// root ("/api/files/7?expires=…&sig=…"); under a prefix ("/chat/") that
// root is the host application's, so the page reads them as relative to
// itself, like every other URL it uses.

import { h } from "./dom.js";

// The largest box a thumbnail is drawn in (the server's are at most 320×320).
const THUMB_BOX = 240;

/** A file link of the server, resolved against the page (see above). */
export function fileUrl(link, base = document.baseURI) {
  const relative = link.startsWith("/") && !link.startsWith("//") ? link.slice(1) : link;
  return new URL(relative, base).href;
}

/** "512 bytes", "14.2 KB", "3.1 MB" (1 KB = 1024 bytes). */
export function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * The size to draw a thumbnail at: the image's own proportions, fitted in
 * THUMB_BOX. Set as width/height attributes, so the message takes its
 * final height before the image arrives (no jump of the timeline).
 */
export function thumbSize(width, height) {
  const scale = Math.min(1, THUMB_BOX / width, THUMB_BOX / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The <ul> of a message's attachments (Attachment objects of docs/protocol.md). */
export function attachmentList(attachments) {
  return h(
    "ul",
    { class: "attachments", "aria-label": "Files" },
    attachments.map((attachment) => h("li", {}, attachmentItem(attachment))),
  );
}

function attachmentItem(attachment) {
  const href = fileUrl(attachment.url);
  const size = humanSize(attachment.size);
  if (attachment.thumbnail_url && attachment.width && attachment.height) {
    const { width, height } = thumbSize(attachment.width, attachment.height);
    return h(
      "a",
      {
        class: "attachment-image",
        href,
        target: "_blank",
        rel: "noopener",
        title: `${attachment.name} (${attachment.width}×${attachment.height}, ${size})`,
      },
      h("img", { src: fileUrl(attachment.thumbnail_url), width, height, alt: attachment.name }),
    );
  }
  return h(
    "a",
    { class: "attachment-file", href, download: attachment.name },
    h("span", { class: "file-name", text: attachment.name }),
    " ",
    h("span", { class: "file-size", text: `(${size})` }),
  );
}
