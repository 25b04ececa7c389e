// The open room's members (GET api/rooms/{id}/members), and the reader's standing in it.
//
// Read when the room opens and again after each member event (reads that
// would overlap collapse into one more), so roles, mutes and bans follow
// what moderators do. An event about the reader (muted, unmuted, a new
// role) is applied at once, before the list is read again, so the
// composer says "muted" without waiting. What the reader may do follows
// docs/protocol.md's table; the server still decides, and its refusals
// are shown as it words them.

const RANK = { owner: 3, moderator: 2, member: 1 };

export class RoomMembers {
  /**
   * @param {import("./api.js").Api} api
   * @param {object} room
   * @param {import("./people.js").People} people
   * @param {() => void} onChange the list or the reader's standing changed
   */
  constructor(api, room, people, onChange) {
    this.api = api;
    this.room = room;
    this.people = people;
    this.onChange = onChange;
    /** @type {object[]} Member objects: joined, invited (and banned, for moderators) */
    this.list = [];
    this.loaded = false;
    this.loading = null;
    this.again = false;
    this.closed = false;
  }

  /** Read the list (again); a read asked for while one runs makes one more after it. */
  load() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.read().finally(() => {
      this.loading = null;
      if (this.again && !this.closed) {
        this.again = false;
        this.load();
      }
    });
    return this.loading;
  }

  async read() {
    let members;
    try {
      members = await this.api.members(this.room.id);
    } catch {
      return; // invited, gone or unreachable: the room's history says which
    }
    if (this.closed) return;
    for (const member of members) this.people.learn(member.user_id, member.username);
    this.list = members;
    this.loaded = true;
    this.onChange();
  }

  close() {
    this.closed = true;
  }

  /** A member event of the room: apply what it says about the reader, then read the list again. */
  event(frame) {
    const me = this.mine();
    if (me && frame.user_id === me.user_id) {
      if (frame.kind === "muted" || frame.kind === "unmuted") me.muted = frame.kind === "muted";
      else if (frame.kind === "role_changed" && frame.role in RANK) me.role = frame.role;
      this.onChange();
    }
    this.load();
  }

  /** The reader's Member, or null (not read yet, or a public room never joined). */
  mine() {
    return this.list.find((member) => member.user_id === this.people.me.id) ?? null;
  }

  /** The reader's role if joined, else null. */
  role() {
    const me = this.mine();
    return me?.state === "joined" ? me.role : null;
  }

  moderates() {
    const role = this.role();
    return role === "owner" || role === "moderator";
  }

  owns() {
    return this.role() === "owner";
  }

  muted() {
    return Boolean(this.mine()?.muted);
  }

  /** Whether the reader outranks a member (moderators act on members, the owner on both). */
  outranks(member) {
    return this.moderates() && member.user_id !== this.people.me.id && RANK[member.role] < RANK[this.role()];
  }

  /** Whether the reader may invite: anyone joined to a public room, moderators to a private one. */
  mayInvite() {
    if (this.room.direct || this.role() === null) return false;
    return this.room.visibility !== "private" || this.moderates();
  }

  /** The user ids the room already has (joined, invited or banned). */
  present() {
    return new Set(this.list.map((member) => member.user_id));
  }
}
