// The REST API of docs/protocol.md, one method per route the page uses.
//
// URLs are relative to the page ("api/rooms", not "/api/rooms"), so the
// same files work when the service is mounted under a prefix of a host
// site. Every refusal becomes an ApiError carrying the protocol's `code`;
// a 401 (or a 403 account_disabled) on an authenticated call also tells the
// app, which returns to the log-in screen.

/** A refusal from the server, or status 0 with code "network" when it could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export class Api {
  /**
   * @param {object} options
   * @param {() => string|null} options.token the current token, if any
   * @param {(code: string) => void} options.onUnauthorized a token was refused
   * @param {string} [options.base] what relative URLs resolve against
   */
  constructor({ token, onUnauthorized, base = document.baseURI }) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.base = base;
  }

  /** The absolute URL of a path relative to the page, with query parameters. */
  url(path, params = {}) {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url;
  }

  async request(method, path, { params, body, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    const token = auth ? this.token() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.url(path, params), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "network", "The server cannot be reached.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      // A proxy's HTML error page, or a dropped connection: no JSON.
    }
    if (response.ok) return data;
    const code = data?.code ?? (response.status >= 500 ? "internal_error" : "invalid_request");
    const retryAfter = Number(response.headers.get("Retry-After")) || null;
    const error = new ApiError(response.status, code, data?.error ?? response.statusText, retryAfter);
    // A disabled account's token is refused with 403 account_disabled: the session is over too.
    const ended = response.status === 401 || code === "account_disabled";
    if (ended && auth && token) this.onUnauthorized(code);
    throw error;
  }

  register(username, password) {
    return this.request("POST", "api/register", { body: { username, password }, auth: false });
  }

  login(username, password) {
    return this.request("POST", "api/login", { body: { username, password }, auth: false });
  }

  rooms() {
    return this.request("GET", "api/rooms");
  }

  /** Move the caller's read marker in a room (docs/protocol.md: it only moves forward). */
  markRead(roomId, lastReadId) {
    return this.request("POST", `api/rooms/${roomId}/read`, { body: { last_read_id: lastReadId } });
  }

  /** Create a room owned by the caller: "public" (anyone may join) or "private" (invite only). */
  createRoom(name, { description = null, visibility = "public" } = {}) {
    return this.request("POST", "api/rooms", { body: { name, description, visibility } });
  }

  /** Join a public room, or accept the invitation to a private one. */
  joinRoom(roomId) {
    return this.request("POST", `api/rooms/${roomId}/join`);
  }

  /** Leave a room, or decline the invitation to it. */
  leaveRoom(roomId) {
    return this.request("POST", `api/rooms/${roomId}/leave`);
  }

  /** Rename, describe, archive or unarchive: {name?, description?, archived?, reason?}. */
  updateRoom(roomId, changes) {
    return this.request("PATCH", `api/rooms/${roomId}`, { body: changes });
  }

  /** The room's members and invitees (and bans, for its moderators). */
  members(roomId) {
    return this.request("GET", `api/rooms/${roomId}/members`);
  }

  invite(roomId, userId) {
    return this.request("POST", `api/rooms/${roomId}/invites`, { body: { user_id: userId } });
  }

  /** "kick", "ban", "unban", "mute" or "unmute" a user, with an optional reason. */
  moderate(roomId, action, userId, reason = "") {
    const body = reason ? { user_id: userId, reason } : { user_id: userId };
    return this.request("POST", `api/rooms/${roomId}/${action}`, { body });
  }

  /** Make a member "moderator" or "member" (the owner only). */
  setRole(roomId, userId, role) {
    return this.request("PUT", `api/rooms/${roomId}/members/${userId}/role`, { body: { role } });
  }

  /** The room's audit log, newest first. */
  audit(roomId, { before, limit } = {}) {
    return this.request("GET", `api/rooms/${roomId}/audit`, { params: { before, limit } });
  }

  /** The direct-message room of the caller and another user (the same room every time). */
  openDirect(userId) {
    return this.request("POST", "api/dms", { body: { user_id: userId } });
  }

  /** A page of history, oldest first: the newest `limit`, or those before/after an id. */
  history(roomId, { before, after, limit } = {}) {
    return this.request("GET", "api/messages", { params: { roomId, before, after, limit } });
  }

  /** The room's events after an id, oldest first, as WebSocket frames. */
  events(roomId, after, limit) {
    return this.request("GET", "api/events", { params: { roomId, after, limit } });
  }

  search(q, { roomId, before, limit } = {}) {
    return this.request("GET", "api/search", { params: { q, roomId, before, limit } });
  }

  edit(messageId, content) {
    return this.request("PATCH", `api/messages/${messageId}`, { body: { content } });
  }

  remove(messageId) {
    return this.request("DELETE", `api/messages/${messageId}`);
  }

  /** Add (or with add=false remove) the caller's reaction. */
  react(messageId, emoji, add = true) {
    const path = `api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
    return this.request(add ? "PUT" : "DELETE", path);
  }

  /**
   * Store one file (the raw body, its name in ?name=): resolves with the
   * Upload, or rejects with an ApiError. An XMLHttpRequest rather than
   * fetch, because only it reports how much of the body has gone.
   * @param {File} file
   * @param {{onProgress?: (sent: number, total: number) => void, signal?: AbortSignal}} [options]
   */
  upload(file, { onProgress, signal } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.url("api/uploads", { name: file.name }));
      const token = this.token();
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Accept", "application/json");
      // The server finds the type in the bytes; this only keeps the body opaque.
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded, event.total);
      signal?.addEventListener("abort", () => xhr.abort());
      xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was cancelled."));
      xhr.onerror = () => reject(new ApiError(0, "network", "The server cannot be reached."));
      xhr.onload = () => {
        let data = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch {
          // Not JSON: a proxy's page, or a cut connection.
        }
        if (xhr.status === 201 && data) {
          resolve(data);
          return;
        }
        const code = data?.code ?? (xhr.status >= 500 ? "internal_error" : "invalid_request");
        const retryAfter = Number(xhr.getResponseHeader("Retry-After")) || null;
        if ((xhr.status === 401 || code === "account_disabled") && token) this.onUnauthorized(code);
        reject(new ApiError(xhr.status, code, data?.error ?? xhr.statusText, retryAfter));
      };
      xhr.send(file);
    });
  }

  /** The server's VAPID public key (no token); rejects with status 404 when push is off. */
  vapidPublicKey() {
    return this.request("GET", "api/push/vapid-public-key", { auth: false });
  }

  /** Register the browser's PushSubscription (its toJSON()): {id, endpoint, created_at}. */
  addPushSubscription(subscription) {
    return this.request("POST", "api/push/subscriptions", { body: subscription });
  }

  pushSubscriptions() {
    return this.request("GET", "api/push/subscriptions");
  }

  deletePushSubscription(subscriptionId) {
    return this.request("DELETE", `api/push/subscriptions/${subscriptionId}`);
  }

  /** A single-use, 30-second ticket for one WebSocket handshake. */
  ticket() {
    return this.request("POST", "api/ws-ticket");
  }
}
