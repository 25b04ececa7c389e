// Bots in a room's view of the admin panel: list, create, new key, revoke.
//
// GET api/bots answers the bots the reader made (every bot, for a server
// admin); the room's view shows those of the room and those of no room. A
// bot's API key is in the answer that made it (creation or a new key)
// only, so it is shown there once (admin_secret.js). Refusals (a taken
// name, a room the reader does not own) are written next to the control.

import { byId, clear, h, shortTime } from "./dom.js";
import { refusal } from "./errors.js";
import { FormPanel } from "./admin_form_panel.js";
import { showSecret } from "./admin_secret.js";

export class BotsPanel extends FormPanel {
  /** @param {import("./admin_hooks_api.js").HooksApi} hooks */
  constructor(hooks) {
    super({ form: "bot-form", field: "bot-name", error: "bot-error", secret: "bot-key" });
    this.hooks = hooks;
    this.status = byId("bots-status");
    this.list = byId("bots-list");
    this.ofRoom = byId("bot-of-room");
  }

  open(room) {
    this.ofRoom.checked = true;
    super.open(room);
  }

  async load() {
    const room = this.room;
    this.status.textContent = "Loading bots…";
    let bots;
    try {
      bots = await this.hooks.bots();
    } catch (error) {
      if (room === this.room && error.status !== 401) this.status.textContent = refusal(error);
      return;
    }
    if (room !== this.room) return;
    const shown = bots.filter((bot) => bot.room_id === room.id || bot.room_id === null);
    this.status.textContent = shown.length
      ? `${shown.length} bot${shown.length === 1 ? "" : "s"} of this room or of none.`
      : "No bot of this room.";
    clear(this.list);
    for (const bot of shown) this.list.append(this.row(bot));
  }

  /** Create a bot: its API key is in this answer only. */
  create() {
    const username = this.field.value.trim();
    const ofRoom = this.ofRoom.checked;
    this.error.textContent = "";
    return this.made(
      (room) => this.hooks.createBot(username, ofRoom ? room.id : null),
      (made) => [`API key of the bot ${made.username}`, made.api_key],
    );
  }

  row(bot) {
    const error = h("p", { class: "error", "aria-live": "assertive" });
    const rotate = h("button", {
      type: "button",
      class: "secondary",
      text: bot.has_key ? "New key" : "Give a key",
      "aria-label": `New key for ${bot.username}`,
      onclick: () => this.rotate(bot, error),
    });
    const revoke = bot.has_key
      ? h("button", {
          type: "button",
          class: "danger",
          text: "Revoke key",
          "aria-label": `Revoke the key of ${bot.username}`,
          onclick: () => this.revoke(bot, error),
        })
      : null;
    const keyState = bot.has_key
      ? `key since ${shortTime(bot.key_created_at)}`
      : "no key (revoked)";
    return h(
      "tr",
      {},
      h("td", {}, h("span", { class: "cell-name", text: bot.username }), error),
      h("td", { text: bot.room_id === null ? "no room" : "this room" }),
      h("td", { class: "bot-key-state", text: keyState }),
      h("td", {}, h("div", { class: "row" }, rotate, revoke)),
    );
  }

  async rotate(bot, error) {
    const room = this.room;
    error.textContent = "";
    let answer;
    try {
      answer = await this.hooks.rotateKey(bot.user_id);
    } catch (failure) {
      if (failure.status !== 401) error.textContent = refusal(failure);
      return;
    }
    if (room !== this.room) return;
    showSecret(this.secret, `New API key of the bot ${answer.username}`, answer.api_key);
    this.load();
  }

  async revoke(bot, error) {
    const room = this.room;
    error.textContent = "";
    try {
      await this.hooks.revokeKey(bot.user_id);
    } catch (failure) {
      if (failure.status !== 401) error.textContent = refusal(failure);
      return;
    }
    if (room === this.room) this.load();
  }
}
