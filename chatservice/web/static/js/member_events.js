// What a member event says, in a short line: "bob joined", "alice muted carol: spam".
//
// Member events (docs/protocol.md, "Rooms, members and roles") name users
// by id; the names come from People, and "user 12" stands in until the
// page has met that user. The line is text: a reason is whatever the
// moderator typed, and is shown as the characters it is.

const ACTIONS = {
  invited: "invited",
  kicked: "kicked",
  banned: "banned",
  unbanned: "unbanned",
  muted: "muted",
  unmuted: "unmuted",
};

/**
 * The sentence of a member event.
 * @param {object} event a member_event frame
 * @param {import("./people.js").People} people
 * @returns {string}
 */
export function eventText(event, people) {
  const who = (id, start = false) => {
    if (id === people.me.id) return start ? "You" : "you";
    return id === null || id === undefined ? "someone" : people.name(id);
  };
  const actor = event.actor_id ?? null;
  const user = event.user_id ?? null;
  let text;
  if (event.kind === "joined") text = `${who(user, true)} joined`;
  else if (event.kind === "left") text = `${who(user, true)} left`;
  else if (event.kind in ACTIONS) text = `${who(actor, true)} ${ACTIONS[event.kind]} ${who(user)}`;
  else if (event.kind === "role_changed") {
    const role = event.role === "moderator" ? "a moderator" : "a member";
    text = `${who(actor, true)} made ${who(user)} ${role}`;
  } else if (event.kind === "room_updated") text = roomUpdated(event, actor === null ? null : who(actor, true));
  else if (event.kind === "room_archived") {
    const done = event.archived ? "archived" : "unarchived";
    text = actor === null ? `The room was ${done}` : `${who(actor, true)} ${done} the room`;
  } else text = `Room membership changed (${event.kind})`; // a kind from a newer server
  return event.reason ? `${text}: ${event.reason}` : text;
}

function roomUpdated(event, actor) {
  const changes = [];
  if (typeof event.name === "string") changes.push(`renamed the room to “${event.name}”`);
  if (typeof event.description === "string") changes.push("changed the room's description");
  const what = changes.length ? changes.join(" and ") : "changed the room's settings";
  return actor === null ? `Someone ${what}` : `${actor} ${what}`;
}
