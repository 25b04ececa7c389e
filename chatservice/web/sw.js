// The service worker: shows a Web Push as a notification, and a click on it
// opens the chat on that push's room.
//
// Served at sw.js beside the page (not under static/), because a worker
// controls only URLs under its own folder and the page is that folder's
// index, also when the service is mounted under a prefix. A classic script
// with no imports, so it runs wherever service workers do.
//
// The push is the JSON of docs/protocol.md ("Web Push"): type, room_id,
// room_name, direct, sender, excerpt (null while messages are encrypted at
// rest). notificationFor is pure, so a test can read what a push shows.

"use strict";

/**
 * The title and options of the notification for a push's payload.
 * @param {object|null} push the decoded payload, or null when it was not JSON
 * @returns {{title: string, options: NotificationOptions}}
 */
function notificationFor(push) {
  const p = push && typeof push === "object" ? push : {};
  const sender = typeof p.sender === "string" && p.sender ? p.sender : "Someone";
  const roomName = typeof p.room_name === "string" && p.room_name ? p.room_name : "a room";
  const roomId = Number.isSafeInteger(p.room_id) ? p.room_id : null;
  const title = p.direct ? `${sender} (direct message)` : `${roomName}: ${sender}`;
  const generic = p.direct ? "sent you a message" : p.type === "mention" ? "mentioned you" : "New message";
  const body = typeof p.excerpt === "string" && p.excerpt ? p.excerpt : generic;
  return {
    title,
    options: {
      body,
      icon: "static/icon.svg",
      // One notification per room: a newer push replaces the older one.
      tag: roomId === null ? "chat" : `room${roomId}`,
      data: { roomId },
    },
  };
}

/** The page's URL that opens ``roomId`` (the page reads #room= at start). */
function roomUrl(roomId) {
  const url = new URL("./", self.registration.scope);
  if (roomId !== null) url.hash = `room=${roomId}`;
  return url.href;
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let push = null;
  try {
    push = event.data ? event.data.json() : null;
  } catch {
    // Not JSON: still tell the person something happened.
  }
  const { title, options } = notificationFor(push);
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const roomId = event.notification.data?.roomId ?? null;
  event.waitUntil(
    (async () => {
      // A tab of the chat already open switches to the room; else a new one opens on it.
      const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const scope = self.registration.scope;
      const tab = tabs.find((client) => {
        const url = new URL(client.url);
        return url.origin + url.pathname === scope; // the chat page, not the admin panel
      });
      if (tab) {
        if (roomId !== null) tab.postMessage({ type: "open-room", roomId });
        await tab.focus();
        return;
      }
      await self.clients.openWindow(roomUrl(roomId));
    })(),
  );
});
