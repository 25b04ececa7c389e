// The REST routes of a room's webhooks (and their dead letters) and of bots
// (docs/protocol.md, "Outgoing webhooks" and "Bots").
//
// Apart from api.js and admin_api.js: the chat page never calls them, and
// they are not admin-only routes (a room's owner manages its webhooks and
// the bots they made; a server admin any room's and every bot).

export class HooksApi {
  /** @param {import("./api.js").Api} api */
  constructor(api) {
    this.api = api;
  }

  /** The room's webhooks and their delivery state (never their secrets). */
  webhooks(roomId) {
    return this.api.request("GET", `api/rooms/${roomId}/webhooks`);
  }

  /** A new webhook: the answer holds its secret, the only time the server shows it. */
  addWebhook(roomId, url) {
    return this.api.request("POST", `api/rooms/${roomId}/webhooks`, { body: { url } });
  }

  deleteWebhook(roomId, webhookId) {
    return this.api.request("DELETE", `api/rooms/${roomId}/webhooks/${webhookId}`);
  }

  /** The events the webhook gave up on, newest first. */
  deadLetters(roomId, webhookId, { before, limit } = {}) {
    return this.api.request("GET", `api/rooms/${roomId}/webhooks/${webhookId}/dead-letters`, {
      params: { before, limit },
    });
  }

  retry(roomId, webhookId, letterId) {
    return this.api.request("POST", `api/rooms/${roomId}/webhooks/${webhookId}/dead-letters/${letterId}/retry`);
  }

  discard(roomId, webhookId, letterId) {
    return this.api.request("DELETE", `api/rooms/${roomId}/webhooks/${webhookId}/dead-letters/${letterId}`);
  }

  /** The bots the reader made (every bot, for a server admin). */
  bots() {
    return this.api.request("GET", "api/bots");
  }

  /** A new bot (of a room, which it joins): the answer holds its API key, shown once. */
  createBot(username, roomId) {
    return this.api.request("POST", "api/bots", { body: { username, ...(roomId ? { room_id: roomId } : {}) } });
  }

  /** A new key for the bot (shown once); the old one stops at once. */
  rotateKey(botId) {
    return this.api.request("POST", `api/bots/${botId}/key`);
  }

  revokeKey(botId) {
    return this.api.request("DELETE", `api/bots/${botId}/key`);
  }
}
