// The chat page: who is logged in, which room is open, and the views around it.
//
// Each concern is a module of its own (api, session, connection, timeline,
// the views); this one only wires them. A later screen (files,
// notifications, private rooms) is one more module and a few lines here.

import { Api } from "./api.js";
import { Composer } from "./composer.js";
import { byId } from "./dom.js";
import { describe } from "./errors.js";
import { LoginView } from "./login.js";
import { MessageList } from "./messages.js";
import { PresenceView } from "./presence.js";
import { retrying } from "./retry.js";
import { RoomSession } from "./room.js";
import { RoomList } from "./rooms.js";
import { SearchView } from "./search.js";
import { clearSession, loadRoomId, loadSession, saveRoomId, saveSession } from "./session.js";
import { ConnectionStatus } from "./status.js";

class App {
  constructor() {
    this.session = loadSession();
    this.room = null;
    this.api = new Api({
      token: () => this.session?.token ?? null,
      onUnauthorized: (code) => this.logOut(describe(code)),
    });
    this.chatView = byId("chat-view");
    this.login = new LoginView(this.api, (session) => this.loggedIn(session));
    this.status = new ConnectionStatus();
    this.presence = new PresenceView();
    this.composer = new Composer({
      send: (text, replyTo) => this.room?.send(text, replyTo) ?? false,
      edit: (messageId, text) => this.room?.edit(messageId, text) ?? Promise.resolve(false),
      typing: () => this.room?.typing(),
    });
    this.rooms = new RoomList(this.api, (room) => this.openRoom(room));
    this.search = new SearchView(this.api, {
      roomId: () => this.room?.room.id ?? null,
      roomName: (roomId) => this.rooms.find(roomId)?.name ?? `room ${roomId}`,
      show: (message) => this.showMessage(message),
    });
    byId("logout-button").addEventListener("click", () => this.logOut(""));
    byId("load-older").addEventListener("click", () => this.room?.loadOlder());
  }

  start() {
    if (this.session) this.enter();
    else this.login.show();
  }

  loggedIn(session) {
    saveSession(session);
    this.session = session;
    this.login.hide();
    this.enter();
  }

  async enter() {
    const me = this.session.user;
    this.chatView.hidden = false;
    byId("me-name").textContent = me.username;
    this.list = new MessageList({
      me,
      handlers: {
        reply: (message) => this.composer.replyTo(message),
        edit: (message) => this.composer.edit(message),
        remove: (message) => this.room?.remove(message),
        react: (message, emoji, add) => this.room?.react(message, emoji, add),
      },
    });
    const session = this.session;
    let rooms;
    try {
      rooms = await retrying(() => this.rooms.load(), {
        cancelled: () => this.session !== session,
        onWait: (delayMs) => this.status.set("reconnecting", { delayMs }),
      });
    } catch (error) {
      if (this.session === session && error.status !== 401) {
        this.composer.showError(describe(error.code, error.message));
      }
      return;
    }
    if (this.session !== session || !rooms?.length) return;
    this.openRoom(this.rooms.find(loadRoomId()) ?? rooms[0]);
  }

  openRoom(room) {
    if (this.room?.room.id === room.id) {
      this.composer.focus();
      return null;
    }
    this.room?.close();
    saveRoomId(room.id);
    this.rooms.select(room.id);
    this.showRoom(room);
    this.composer.setRoom(room);
    this.room = new RoomSession({
      api: this.api,
      room,
      me: this.session.user,
      list: this.list,
      composer: this.composer,
      presence: this.presence,
      status: this.status,
      onAuthLost: (code) => this.logOut(describe(code)),
      onRemoved: (reason) => this.removedFrom(room, reason),
      onMemberEvent: (frame) => this.roomChanged(room, frame),
      onConnected: () => this.rooms.refresh(),
    });
    const opening = this.room.open();
    this.composer.focus();
    return opening;
  }

  /** The server closed the room to us (we left, or were kicked or banned): go elsewhere. */
  removedFrom(room, reason) {
    if (this.room?.room.id !== room.id) return;
    this.room.close();
    this.room = null;
    this.rooms.rooms = this.rooms.rooms.filter((other) => other.id !== room.id);
    const next = this.rooms.rooms[0];
    if (next) this.openRoom(next);
    this.composer.showError(`You are no longer in ${room.name}${reason ? ` (${reason})` : ""}.`);
    this.rooms.refresh();
  }

  /** A member event of the open room: follow a rename or archiving (the rest has no screen yet). */
  roomChanged(room, frame) {
    if (frame.kind === "room_updated") {
      if (typeof frame.name === "string") room.name = frame.name;
      if (typeof frame.description === "string") room.description = frame.description;
    } else if (frame.kind === "room_archived") {
      room.archived = Boolean(frame.archived);
    } else {
      return;
    }
    if (this.room?.room !== room) return;
    this.showRoom(room);
    this.composer.setRoom(room, { keepText: true });
    this.rooms.refresh();
  }

  showRoom(room) {
    byId("room-title").textContent = room.name;
    byId("room-description").textContent = room.description ?? "";
    document.title = `${room.name} · Chat`;
  }

  async showMessage(message) {
    const room = this.rooms.find(message.room_id);
    if (room && this.room?.room.id !== room.id) await this.openRoom(room);
    this.list.reveal(message.id);
  }

  logOut(message) {
    this.room?.close();
    this.room = null;
    this.session = null;
    clearSession();
    this.chatView.hidden = true;
    this.search.panel.hidden = true;
    this.rooms.select(null);
    this.status.set("closed");
    this.login.show(message);
  }
}

new App().start();
