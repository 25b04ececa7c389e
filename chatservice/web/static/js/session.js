// Where the session lives: sessionStorage, per tab, never in a URL.
//
// A token in a URL ends up in logs, history and Referer headers; in
// sessionStorage it is gone when the tab closes. The WebSocket never sees
// it either: it gets a single-use ticket (see connection.js).

const SESSION_KEY = "chatservice.session";
const ROOM_KEY = "chatservice.room";

/** @returns {{token: string, user: {id: number, username: string}} | null} */
export function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
    if (saved && typeof saved.token === "string" && saved.user && typeof saved.user.id === "number") {
      return saved;
    }
  } catch {
    // A damaged entry is no session.
  }
  return null;
}

/** Keep the session (the answer of /api/login or /api/register) for this tab. */
export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: session.token, user: session.user }));
}

/** Forget the session and the room it was in. */
export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(ROOM_KEY);
}

/** The room this tab had open, so a reload comes back to it. */
export function loadRoomId() {
  const value = Number(sessionStorage.getItem(ROOM_KEY));
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

export function saveRoomId(roomId) {
  sessionStorage.setItem(ROOM_KEY, String(roomId));
}
