// The REST routes under api/admin/ (docs/protocol.md, "Server admins").
//
// A thin layer over Api.request, kept apart from api.js so the chat page's
// client does not grow with routes only the admin panel calls. Every
// route answers 403 forbidden to a user without the admin right.

export class AdminApi {
  /** @param {import("./api.js").Api} api */
  constructor(api) {
    this.api = api;
  }

  /** Accounts in id order: those whose name contains q, after an id (the next page). */
  users({ q, after, limit } = {}) {
    return this.api.request("GET", "api/admin/users", { params: { q: q || undefined, after, limit } });
  }

  /** Disable an account at once, everywhere (its sockets close with 4002). */
  disable(userId, reason = "") {
    return this.api.request("POST", `api/admin/users/${userId}/disable`, { body: reasonBody(reason) });
  }

  enable(userId, reason = "") {
    return this.api.request("POST", `api/admin/users/${userId}/enable`, { body: reasonBody(reason) });
  }

  /** Every room (private and direct too) in id order, or those whose name contains q. */
  rooms({ q, after, limit } = {}) {
    return this.api.request("GET", "api/admin/rooms", { params: { q: q || undefined, after, limit } });
  }

  /** Any room's members, invitees and bans, with their roles. */
  members(roomId) {
    return this.api.request("GET", `api/admin/rooms/${roomId}/members`);
  }

  archive(roomId, archived, reason = "") {
    return this.api.request("POST", `api/admin/rooms/${roomId}/archive`, {
      body: { archived, ...(reason ? { reason } : {}) },
    });
  }

  deleteRoom(roomId, reason = "") {
    return this.api.request("DELETE", `api/admin/rooms/${roomId}`, { body: reasonBody(reason) });
  }

  /** The whole audit log (or one room's), newest first. */
  audit({ roomId, before, limit } = {}) {
    return this.api.request("GET", "api/admin/audit", { params: { roomId, before, limit } });
  }
}

/** No reason is no body (the server records ""), so nothing empty is sent. */
function reasonBody(reason) {
  return reason ? { reason } : undefined;
}
