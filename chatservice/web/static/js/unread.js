// What the server says about the reader across rooms: `read_marker` and `notification` frames.
//
// Both come on the open room's socket whatever room they are about
// (docs/protocol.md, "Read markers, unread counts and mentions"):
// * `read_marker` (this tab or another moved a marker): the room's counts
//   as the server has them, so its badges clear or change at once;
// * `notification` (a mention, or a message in a direct room): unless it
//   is about the room the page is showing, the room's badges go up by one
//   at once and the list is read again shortly for the exact counts (other
//   rooms' plain messages come with no frame), and a mention or a direct
//   message is said in a polite live region ("alice mentioned you in
//   Design"), not a dialog. The notice goes when that room is opened.
// Neither is replayed after a lost connection: the page reads the list
// again on each reconnection (see main.js, onConnected).

import { byId } from "./dom.js";

export class UnreadFrames {
  /**
   * @param {import("./rooms.js").RoomList} rooms
   * @param {() => number|null} openRoomId the room the page has open
   */
  constructor(rooms, openRoomId) {
    this.rooms = rooms;
    this.openRoomId = openRoomId;
    this.notice = byId("mention-notice");
    this.noticeRoomId = null;
  }

  frame(frame) {
    if (!Number.isSafeInteger(frame.room_id)) return;
    if (frame.type === "read_marker") this.rooms.marked(frame);
    else if (frame.type === "notification") this.notified(frame);
  }

  notified(frame) {
    const shown = frame.room_id === this.openRoomId() && document.visibilityState === "visible";
    if (shown) return; // the read marker follows what the page shows
    this.rooms.bump(frame.room_id, frame.reason === "mention");
    this.rooms.refreshSoon();
    if (frame.room_id === this.openRoomId()) return;
    const name = this.rooms.find(frame.room_id)?.name;
    const who = String(frame.username ?? "Someone");
    if (frame.reason === "mention") this.say(frame.room_id, `${who} mentioned you in ${name ?? "a room"}`);
    else if (frame.reason === "direct") this.say(frame.room_id, `${who} sent you a direct message`);
  }

  say(roomId, text) {
    this.noticeRoomId = roomId;
    this.notice.textContent = text;
  }

  /** A room was opened: a notice about it has been answered. */
  opened(roomId) {
    if (this.noticeRoomId === roomId) this.clear();
  }

  clear() {
    this.noticeRoomId = null;
    this.notice.textContent = "";
  }
}
