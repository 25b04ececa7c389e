// How one message looks: author, time, reply quote, text, reactions, actions.
//
// Everything from the server goes in as text (see dom.js). The actions a
// message offers follow the API's rules: anyone may reply and react; only
// the author may edit, and the author or the room's moderators delete;
// another's message offers to write to its author privately (a direct
// room); a tombstone offers nothing.

import { attachmentList } from "./attachments.js";
import { h, timeElement } from "./dom.js";

/** The quick reactions offered by "React"; any emoji the API accepts is shown when others use it. */
export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/**
 * The <li> of one message.
 * @param {object} message a Message of docs/protocol.md
 * @param {{id: number}} me
 * @param {object} on handlers: reply(message), edit(message), remove(message),
 *   react(message, emoji, add), direct(message), and offers(action): whether the room
 *   allows "direct" (not already a direct room) and "delete-any" (the reader moderates it)
 */
export function messageItem(message, me, on) {
  const mine = message.sender_id === me.id;
  const item = h("li", {
    id: `message-${message.id}`,
    class: ["message", mine && "mine", message.deleted && "deleted"].filter(Boolean).join(" "),
    dataset: { id: String(message.id) },
  });
  const head = h(
    "div",
    { class: "message-head" },
    h("span", { class: "author", text: message.username }),
    timeElement(message.ts),
    message.edited_at && !message.deleted ? h("span", { class: "edited", text: "(edited)" }) : null,
  );
  item.append(head);
  if (message.reply_preview) item.append(replyQuote(message.reply_preview));
  const files = message.deleted ? [] : (message.attachments ?? []);
  // A message of files only has no text to show.
  if (message.deleted || message.content || files.length === 0) {
    item.append(
      h("p", { class: "content", text: message.deleted ? "This message was deleted." : message.content }),
    );
  }
  if (message.deleted) return item;
  if (files.length > 0) item.append(attachmentList(files));
  if (message.reactions.length > 0) item.append(reactionList(message, me, on));
  // Last in reading order; the style sheet shows it beside the author.
  item.append(actions(item, message, mine, on));
  return item;
}

function replyQuote(preview) {
  const text = preview.deleted ? "a deleted message" : preview.excerpt;
  return h(
    "blockquote",
    { class: "reply-preview" },
    h("span", { class: "visually-hidden", text: "In reply to " }),
    h("span", { class: "author", text: preview.username }),
    ": ",
    h("span", { text }),
  );
}

function reactionList(message, me, on) {
  return h(
    "ul",
    { class: "reactions", "aria-label": "Reactions" },
    message.reactions.map((reaction) => {
      const pressed = reaction.user_ids.includes(me.id);
      return h(
        "li",
        {},
        h("button", {
          type: "button",
          "aria-pressed": String(pressed),
          dataset: { action: `reaction:${reaction.emoji}` },
          title: pressed ? "Remove your reaction" : "Add this reaction",
          text: `${reaction.emoji} ${reaction.count}`,
          onclick: () => on.react(message, reaction.emoji, !pressed),
        }),
      );
    }),
  );
}

function actions(item, message, mine, on) {
  const bar = h("div", { class: "actions" });
  const button = (action, text, onclick) =>
    h("button", { type: "button", class: "link", dataset: { action }, text, onclick });
  bar.append(button("reply", "Reply", () => on.reply(message)));
  bar.append(button("react", "React", () => togglePicker(item, message, on)));
  if (mine) bar.append(button("edit", "Edit", () => on.edit(message)));
  else if (on.offers("direct")) bar.append(button("direct", "Message privately", () => on.direct(message)));
  if (mine || on.offers("delete-any")) {
    bar.append(button("delete", "Delete", () => confirmDelete(item, message, on)));
  }
  return bar;
}

function togglePicker(item, message, on) {
  const open = item.querySelector(".picker");
  if (open) {
    open.remove();
    return;
  }
  const picker = h(
    "div",
    { class: "picker", role: "group", "aria-label": "Pick a reaction" },
    QUICK_REACTIONS.map((emoji) =>
      h("button", {
        type: "button",
        dataset: { action: `pick:${emoji}` },
        text: emoji,
        onclick: () => {
          picker.remove();
          on.react(message, emoji, true);
        },
      }),
    ),
  );
  item.append(picker);
  picker.querySelector("button").focus();
}

function confirmDelete(item, message, on) {
  if (item.querySelector(".confirm")) return;
  const keep = h("button", { type: "button", class: "secondary", text: "Keep it" });
  const confirm = h(
    "div",
    { class: "confirm", role: "group", "aria-label": "Confirm delete" },
    h("span", { text: "Delete this message?" }),
    h("button", {
      type: "button",
      class: "danger",
      dataset: { action: "confirm-delete" },
      text: "Delete",
      onclick: () => {
        confirm.remove();
        on.remove(message);
      },
    }),
    keep,
  );
  keep.addEventListener("click", () => {
    confirm.remove();
    item.querySelector('[data-action="delete"]')?.focus();
  });
  item.append(confirm);
  keep.focus();
}

/** The <li> of a message still on its way (or refused), shown after the timeline. */
export function pendingItem(pending, me) {
  return h(
    "li",
    { class: "message mine", id: `pending-${pending.clientMsgId}` },
    h(
      "div",
      { class: "message-head" },
      h("span", { class: "author", text: me.username }),
      h("span", { class: "sending", text: pending.sent ? "Sending…" : "Waiting for the connection…" }),
    ),
    pending.content ? h("p", { class: "content", text: pending.content }) : null,
    pending.uploads.length > 0
      ? h(
          "ul",
          { class: "attachments pending-files", "aria-label": "Files" },
          pending.uploads.map((upload) => h("li", { class: "file-name", text: upload.name })),
        )
      : null,
  );
}
