// The chat page: who is logged in, which room is open, and the views around it.
//
// Each concern is a module of its own (api, session, connection, timeline,
// the views, members and moderation); this one only wires them. A later
// screen (files, notifications) is one more module and a few lines here.

import { Api } from "./api.js";
import { Composer } from "./composer.js";
import { AttachmentTray } from "./uploads.js";
import { Disclosure } from "./disclosure.js";
import { byId } from "./dom.js";
import { describe, refusal } from "./errors.js";
import { LoginView } from "./login.js";
import { RoomMembers } from "./members.js";
import { MembersPanel } from "./members_view.js";
import { MessageList } from "./messages.js";
import { Notice } from "./notice.js";
import { People } from "./people.js";
import { PresenceView } from "./presence.js";
import { PushToggle, onOpenRoom, roomFromLink } from "./push.js";
import { ReadTracker } from "./read_tracker.js";
import { retrying } from "./retry.js";
import { RoomSession } from "./room.js";
import { RoomHeader } from "./room_header.js";
import { RoomList } from "./rooms.js";
import { SearchView } from "./search.js";
import { clearSession, loadRoomId, loadSession, saveRoomId, saveSession } from "./session.js";
import { SettingsPanel } from "./settings.js";
import { ConnectionStatus } from "./status.js";
import { UnreadFrames } from "./unread.js";

// The close reasons of code 4003 (docs/protocol.md, "Close codes").
const REMOVALS = {
  "left the room": (name) => `You left ${name}.`,
  "removed from the room": (name) => `You were removed from ${name}.`,
  "banned from the room": (name) => `You were banned from ${name}.`,
};

class App {
  constructor() {
    this.session = loadSession();
    this.room = null; // the open RoomSession
    this.members = null; // its RoomMembers
    this.removal = null; // the reason of the last kick or ban of the reader, {roomId, reason}
    this.api = new Api({
      token: () => this.session?.token ?? null,
      onUnauthorized: (code) => this.logOut(describe(code)),
    });
    this.people = new People();
    this.chatView = byId("chat-view");
    this.login = new LoginView(this.api, (session) => this.loggedIn(session));
    this.status = new ConnectionStatus();
    this.presence = new PresenceView();
    this.header = new RoomHeader();
    this.composer = new Composer(
      {
        send: (text, replyTo, uploads) => this.room?.send(text, replyTo, uploads) ?? false,
        edit: (messageId, text) => this.room?.edit(messageId, text) ?? Promise.resolve(false),
        typing: () => this.room?.typing(),
      },
      new AttachmentTray(this.api),
    );
    this.notice = new Notice(() => this.composer.focus());
    this.rooms = new RoomList(this.api, (room) => this.openRoom(room));
    this.unread = new UnreadFrames(this.rooms, () => this.room?.room.id ?? null);
    this.reader = null; // the open room's ReadTracker
    this.search = new SearchView(this.api, {
      roomId: () => this.room?.room.id ?? null,
      roomName: (roomId) => this.rooms.find(roomId)?.name ?? `room ${roomId}`,
      show: (message) => this.showMessage(message),
    });
    this.list = new MessageList({
      people: this.people,
      handlers: {
        reply: (message) => this.composer.replyTo(message),
        edit: (message) => this.composer.edit(message),
        remove: (message) => this.room?.remove(message),
        react: (message, emoji, add) => this.room?.react(message, emoji, add),
        direct: (message) =>
          this.direct(message.sender_id).catch((error) => this.composer.showError(refusal(error))),
        offers: (action) => this.offers(action),
      },
    });
    this.membersPanel = new MembersPanel(this.api, this.people, {
      direct: (userId) => this.direct(userId),
      left: (room) => this.removedFrom(room, "left the room"),
    });
    this.settings = new SettingsPanel(this.api, this.people, (room) => this.roomUpdated(room));
    this.membersDisclosure = new Disclosure(byId("members-toggle"), byId("members-panel"), {
      opened: () => {
        this.settingsDisclosure.close();
        this.members?.load();
      },
    });
    this.settingsDisclosure = new Disclosure(byId("settings-toggle"), byId("settings-panel"), {
      opened: () => {
        this.membersDisclosure.close();
        this.settings.opened();
      },
    });
    this.push = new PushToggle(this.api);
    this.linkedRoom = roomFromLink(); // a notification's click: #room=<id>
    onOpenRoom((roomId) => {
      const room = this.session ? this.rooms.find(roomId) : null;
      if (room) this.openRoom(room);
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
    this.people.reset(me);
    this.chatView.hidden = false;
    byId("me-name").textContent = me.username;
    this.push.start();
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
    const linked = this.linkedRoom;
    this.linkedRoom = null;
    this.openRoom(this.rooms.find(linked) ?? this.rooms.find(loadRoomId()) ?? rooms[0]);
  }

  openRoom(room) {
    if (this.room?.room.id === room.id) {
      this.composer.focus();
      return null;
    }
    this.closeRoom();
    this.notice.clear();
    saveRoomId(room.id);
    this.rooms.select(room.id);
    this.header.show(room);
    this.composer.setRoom(room);
    this.settings.setRoom(room);
    this.members = new RoomMembers(this.api, room, this.people, () => this.standingChanged());
    this.membersPanel.setRoom(this.members);
    this.standingChanged();
    this.members.load();
    this.room = new RoomSession({
      api: this.api,
      room,
      me: this.session.user,
      people: this.people,
      list: this.list,
      composer: this.composer,
      presence: this.presence,
      status: this.status,
      onAuthLost: (code) => this.logOut(describe(code)),
      onRemoved: (reason) => this.removedFrom(room, reason),
      onRefused: (error) => this.refused(room, error),
      onMemberEvent: (frame) => this.memberEvent(room, frame),
      onConnected: () => this.rooms.refresh(),
      onUserFrame: (frame) => this.unread.frame(frame),
    });
    this.unread.opened(room.id);
    this.reader = this.readTracker(this.room);
    const opening = this.room.open();
    this.composer.focus();
    return opening;
  }

  /** Move the room's read marker when its newest message is shown: over its socket, else REST. */
  readTracker(session) {
    const roomId = session.room.id;
    return new ReadTracker({
      list: this.list,
      cursor: () => session.timeline.cursor,
      marked: () => this.rooms.find(roomId)?.last_read_id ?? 0,
      send: (lastReadId) => {
        if (session.markRead(lastReadId)) return;
        this.api
          .markRead(roomId, lastReadId)
          .then((marker) => this.rooms.marked({ ...marker, room_id: roomId }))
          .catch(() => {}); // the next message shown tries again
      },
    });
  }

  closeRoom() {
    this.reader?.stop();
    this.reader = null;
    this.room?.close();
    this.members?.close();
    this.room = null;
    this.members = null;
  }

  /** Leave a room the server closed to us, for the first other one; say why. */
  goElsewhere(room, notice) {
    if (this.room?.room.id !== room.id) return;
    this.closeRoom();
    const next = this.rooms.rooms.find((other) => other.id !== room.id);
    if (next) this.openRoom(next);
    this.notice.show(notice);
    this.rooms.refresh();
  }

  /** The server closed the room to us (4003: we left, or were kicked or banned). */
  removedFrom(room, reason) {
    const said = this.removal?.roomId === room.id ? this.removal.reason : "";
    this.removal = null;
    const sentence = REMOVALS[reason]?.(room.name) ?? `You are no longer in ${room.name}${reason ? ` (${reason})` : ""}.`;
    this.rooms.drop(room.id);
    this.goElsewhere(room, said ? `${sentence} Reason: ${said}` : sentence);
  }

  /** The room's history was refused: an invitation not accepted yet, a ban, or a room gone. */
  refused(room, error) {
    if (error.status === 403 && room.visibility === "private" && !room.direct) {
      this.rooms.invited(room);
      this.goElsewhere(room, `You are invited to ${room.name}: accept the invitation to read it.`);
      return;
    }
    this.rooms.drop(room.id);
    const why = error.status === 404 ? "You were removed or banned, or it was deleted." : refusal(error);
    this.goElsewhere(room, `You can't open ${room.name}. ${why}`);
  }

  /** A member event of the open room: the room's settings, and who may do what. */
  memberEvent(room, frame) {
    if (this.room?.room !== room) return;
    if (frame.user_id === this.people.me.id && (frame.kind === "kicked" || frame.kind === "banned")) {
      this.removal = { roomId: room.id, reason: frame.reason ?? "" };
    }
    if (frame.kind === "room_updated") {
      this.roomUpdated({
        ...room,
        ...(typeof frame.name === "string" ? { name: frame.name } : {}),
        ...(typeof frame.description === "string" ? { description: frame.description } : {}),
      });
    } else if (frame.kind === "room_archived") {
      this.roomUpdated({ ...room, archived: Boolean(frame.archived) });
    }
    this.members.event(frame);
  }

  /** New settings of the open room (a member event, or the answer to our own change). */
  roomUpdated(changed) {
    const room = this.room?.room;
    if (!room || room.id !== changed.id) return;
    room.name = changed.name;
    room.description = changed.description;
    room.archived = Boolean(changed.archived);
    this.header.show(room);
    this.composer.setRoom(room, { keepText: true });
    this.settings.setRoom(room);
    this.rooms.refresh();
  }

  /** The reader's standing in the open room changed (or was read): mute, role, tools. */
  standingChanged() {
    const members = this.members;
    if (!members) return;
    this.composer.setMuted(members.muted());
    this.membersPanel.draw();
    const moderates = members.moderates() && !members.room.direct;
    this.header.tools({ moderates });
    if (!moderates) this.settingsDisclosure.close();
    if (moderates !== this.moderates) {
      this.moderates = moderates;
      this.room?.redraw(); // "Delete" on everyone's messages, or no longer
    }
  }

  offers(action) {
    if (action === "direct") return !this.room?.room.direct;
    if (action === "delete-any") return Boolean(this.members?.moderates());
    return false;
  }

  /** Open (or reopen) the direct room with a user. Rejects with the server's refusal. */
  async direct(userId) {
    const room = await this.api.openDirect(userId);
    this.rooms.add(room);
    await this.openRoom(this.rooms.find(room.id) ?? room);
  }

  async showMessage(message) {
    const room = this.rooms.find(message.room_id);
    if (room && this.room?.room.id !== room.id) await this.openRoom(room);
    this.list.reveal(message.id);
  }

  logOut(message) {
    this.closeRoom();
    this.session = null;
    clearSession();
    this.push.stop();
    this.chatView.hidden = true;
    this.search.panel.hidden = true;
    this.membersDisclosure.close();
    this.settingsDisclosure.close();
    this.notice.clear();
    this.unread.clear();
    this.rooms.forget();
    this.rooms.select(null);
    this.status.set("closed");
    this.login.show(message);
  }
}

new App().start();
