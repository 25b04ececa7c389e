// What the panel may show and do: a server admin's reach, or a room owner's.
//
// Both scopes answer the same questions (which rooms, their members, archive,
// delete, the room's log), so the views never ask who is looking. A server
// admin sees every room through api/admin/; anyone else sees the rooms they
// own or moderate, from GET api/rooms, through the routes of those rooms
// (the server still decides each action: a refusal is shown, not hidden).
// Naming moderators is the owner's alone in both (PUT .../role).

const MANAGED = new Set(["owner", "moderator"]);
const PAGE = 50;

export const ROOMS_PAGE = PAGE;

/**
 * @param {import("./api.js").Api} api
 * @param {import("./admin_api.js").AdminApi} admin
 * @param {import("./people.js").People} people
 */
export function adminScope(api, admin, people) {
  return {
    admin: true,
    intro: "Every room of the server: public, private and direct.",
    empty: "No room matches.",
    rooms: ({ q, after }) => admin.rooms({ q, after, limit: PAGE }),
    members: (roomId) => admin.members(roomId),
    archive: (room, archived, reason) => admin.archive(room.id, archived, reason),
    remove: (room, reason) => admin.deleteRoom(room.id, reason),
    audit: (roomId, before, limit) => admin.audit({ roomId, before, limit }),
    setRole: (roomId, userId, role) => api.setRole(roomId, userId, role),
    /** Learn the names of users the page has not met: the user with the smallest id ≥ each. */
    names: async (ids) => {
      const unknown = [...new Set(ids)].filter((id) => Number.isSafeInteger(id) && !people.known(id));
      await Promise.all(
        unknown.slice(0, PAGE).map(async (id) => {
          const [found] = await admin.users({ after: id - 1, limit: 1 });
          if (found?.id === id) people.learn(id, found.username);
        }),
      );
    },
  };
}

/**
 * @param {import("./api.js").Api} api
 */
export function ownerScope(api) {
  return {
    admin: false,
    intro: "The rooms you own or moderate.",
    empty: "You own or moderate no room yet. Create one in the chat.",
    rooms: async ({ after }) => {
      if (after) return [];
      const rooms = await api.rooms();
      return rooms.filter((room) => room.membership?.state === "joined" && MANAGED.has(room.membership.role));
    },
    members: (roomId) => api.members(roomId),
    archive: (room, archived, reason) => api.updateRoom(room.id, { archived, ...(reason ? { reason } : {}) }),
    remove: null,
    audit: (roomId, before, limit) => api.audit(roomId, { before, limit }),
    setRole: (roomId, userId, role) => api.setRole(roomId, userId, role),
    names: async () => {},
  };
}
