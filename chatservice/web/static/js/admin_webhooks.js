// A room's webhooks in the admin panel: list, add, delete, and each one's dead letters.
//
// Drawn inside the room's view (admin_room.js) for whoever manages the
// room; the server decides (a room owner, or a server admin for any room)
// and its refusal is written next to the control, never in a dialog. The
// secret of a new webhook is in the answer that made it only, so it is
// shown there once (admin_secret.js). Every URL and error string the
// server sends is rendered as text.

import { byId, clear, h, shortTime } from "./dom.js";
import { refusal } from "./errors.js";
import { FormPanel } from "./admin_form_panel.js";

const LETTERS_PAGE = 20;

export class WebhooksPanel extends FormPanel {
  /** @param {import("./admin_hooks_api.js").HooksApi} hooks */
  constructor(hooks) {
    super({ form: "webhook-form", field: "webhook-url", error: "webhook-error", secret: "webhook-secret" });
    this.hooks = hooks;
    this.status = byId("webhooks-status");
    this.list = byId("webhooks-list");
    byId("webhooks-refresh").addEventListener("click", () => this.load());
  }

  async load() {
    const room = this.room;
    this.status.textContent = "Loading webhooks…";
    let webhooks;
    try {
      webhooks = await this.hooks.webhooks(room.id);
    } catch (error) {
      if (room === this.room && error.status !== 401) {
        clear(this.list);
        this.status.textContent = refusal(error);
      }
      return;
    }
    if (room !== this.room) return;
    this.status.textContent = webhooks.length
      ? `${webhooks.length} webhook${webhooks.length === 1 ? "" : "s"}.`
      : "No webhook: the room's events go nowhere.";
    clear(this.list);
    for (const webhook of webhooks) this.list.append(this.item(webhook));
  }

  /** Add a webhook: its signing secret is in this answer only. */
  create() {
    const url = this.field.value.trim();
    this.error.textContent = "";
    if (!url) {
      this.error.textContent = "Enter the receiver's URL: it starts with https.";
      this.field.focus();
      return;
    }
    return this.made(
      (room) => this.hooks.addWebhook(room.id, url),
      (made) => [`Signing secret of ${made.url}`, made.secret],
    );
  }

  item(webhook) {
    const room = this.room;
    const error = h("p", { class: "error", "aria-live": "assertive" });
    const letters = h("div", { class: "dead-letters", id: `dead-letters-${webhook.id}`, hidden: true });
    const deleteButton = h("button", {
      type: "button",
      class: "danger",
      text: "Delete",
      "aria-label": `Delete webhook ${webhook.url}`,
    });
    const no = h("button", { type: "button", class: "secondary", text: "Cancel" });
    const yes = h("button", { type: "button", class: "danger", text: "Delete for good" });
    const confirm = h(
      "div",
      { class: "confirm", hidden: true },
      h("p", { text: `Delete the webhook to ${webhook.url}? Its dead letters go with it.` }),
      yes,
      no,
    );
    const show = h("button", {
      type: "button",
      class: "secondary",
      text: "Dead letters",
      "aria-expanded": "false",
      "aria-controls": letters.id,
      "aria-label": `Dead letters of ${webhook.url}`,
    });
    show.addEventListener("click", () => {
      const open = letters.hidden;
      letters.hidden = !open;
      show.setAttribute("aria-expanded", String(open));
      if (open) new DeadLetters(this.hooks, room, webhook, letters).load();
    });
    deleteButton.addEventListener("click", () => {
      confirm.hidden = false;
      no.focus();
    });
    no.addEventListener("click", () => {
      confirm.hidden = true;
      deleteButton.focus();
    });
    yes.addEventListener("click", async () => {
      error.textContent = "";
      try {
        await this.hooks.deleteWebhook(room.id, webhook.id);
      } catch (failure) {
        if (failure.status !== 401) error.textContent = refusal(failure);
        return;
      }
      if (room === this.room) this.load();
    });
    return h(
      "li",
      { class: "hook" },
      h("p", { class: "cell-name hook-url", text: webhook.url }),
      h("p", { class: "hint", text: state(webhook) }),
      webhook.last_error ? h("p", { class: "hook-error", text: `Last error: ${webhook.last_error}` }) : null,
      h("div", { class: "row wrap" }, show, deleteButton),
      confirm,
      error,
      letters,
    );
  }
}

/** Where delivery stands: the cursor, and the head's failures while it fails. */
function state(webhook) {
  const through = webhook.delivered_through
    ? `Delivered through event ${webhook.delivered_through}.`
    : "No event delivered yet.";
  if (!webhook.failing_attempts) return through;
  const next = webhook.next_attempt_at ? ` Next attempt ${shortTime(webhook.next_attempt_at)}.` : "";
  const tries = `${webhook.failing_attempts} attempt${webhook.failing_attempts === 1 ? "" : "s"}`;
  return `${through} Failing: ${tries}.${next}`;
}

/** One webhook's dead letters (newest first, a page at a time), with Retry and Discard. */
class DeadLetters {
  constructor(hooks, room, webhook, container) {
    Object.assign(this, { hooks, room, webhook, container });
    this.status = h("p", { class: "hint", "aria-live": "polite" });
    this.error = h("p", { class: "error", "aria-live": "assertive" });
    this.rows = h("tbody", {});
    this.more = h("button", { type: "button", class: "secondary", text: "Older dead letters", hidden: true });
    this.more.addEventListener("click", () => this.load(this.oldest));
    this.oldest = null;
    const head = ["Event", "Attempts", "Last error", "Failed", "Action"].map((name) =>
      h("th", { scope: "col", text: name }),
    );
    clear(container);
    container.append(
      h("h4", { text: `Dead letters of ${webhook.url}` }),
      this.status,
      this.error,
      h(
        "table",
        { class: "admin-table letters-table" },
        h("caption", { class: "visually-hidden", text: `Dead letters of ${webhook.url}` }),
        h("thead", {}, h("tr", {}, head)),
        this.rows,
      ),
      this.more,
    );
  }

  async load(before = null) {
    this.status.textContent = "Loading dead letters…";
    let letters;
    try {
      letters = await this.hooks.deadLetters(this.room.id, this.webhook.id, {
        before: before ?? undefined,
        limit: LETTERS_PAGE,
      });
    } catch (error) {
      if (error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (before === null) clear(this.rows);
    for (const letter of letters) this.rows.append(this.row(letter));
    if (letters.length) this.oldest = letters[letters.length - 1].id;
    this.more.hidden = letters.length < LETTERS_PAGE;
    const count = this.rows.childElementCount;
    this.status.textContent = count
      ? `${count} dead letter${count === 1 ? "" : "s"} shown.`
      : "No dead letter: nothing was given up on.";
  }

  row(letter) {
    const pending = letter.retry_pending ? h("span", { class: "badge", text: "retry pending" }) : null;
    const retry = h("button", {
      type: "button",
      class: "secondary",
      text: "Retry",
      "aria-label": `Retry event ${letter.event_id}`,
      disabled: letter.retry_pending,
    });
    const discard = h("button", {
      type: "button",
      class: "danger",
      text: "Discard",
      "aria-label": `Discard event ${letter.event_id}`,
    });
    const row = h(
      "tr",
      { dataset: { letter: String(letter.id) } },
      h("td", {}, h("span", { class: "cell-name", text: String(letter.event_id) }), " ", pending),
      h("td", { text: String(letter.attempts) }),
      h("td", { class: "letter-error", text: letter.last_error ?? "" }),
      h("td", { text: shortTime(letter.failed_at) }),
      h("td", {}, h("div", { class: "row" }, retry, discard)),
    );
    retry.addEventListener("click", () => this.act(row, letter, "retry"));
    discard.addEventListener("click", () => this.act(row, letter, "discard"));
    return row;
  }

  async act(row, letter, action) {
    this.error.textContent = "";
    let answer;
    try {
      answer =
        action === "retry"
          ? await this.hooks.retry(this.room.id, this.webhook.id, letter.id)
          : await this.hooks.discard(this.room.id, this.webhook.id, letter.id);
    } catch (error) {
      if (error.status !== 401) this.error.textContent = refusal(error);
      return;
    }
    if (action === "retry") {
      row.replaceWith(this.row(answer));
      this.status.textContent = `Event ${letter.event_id} will be delivered again.`;
    } else {
      row.remove();
      this.status.textContent = `Event ${letter.event_id} was discarded.`;
    }
  }
}
