// The people this page has met: user id -> username.
//
// The API has no user look-up: member events and audit entries name users
// by id only. So the page remembers every name it is shown (message
// authors and the users they quote, members lists, presence and typing
// notices) for the whole session, across rooms; a line drawn before its
// name was known is drawn again when it is (see `onChange`). The same
// list offers the people to invite or to write to privately.

export class People {
  constructor() {
    /** @type {{id: number, username: string}} the reader */
    this.me = { id: 0, username: "" };
    /** @type {Map<number, string>} */
    this.names = new Map();
    this.listeners = [];
    this.scheduled = false;
  }

  /** A new session: only the reader is known. */
  reset(me) {
    this.me = me;
    this.names = new Map([[me.id, me.username]]);
  }

  /** Remember a name; listeners hear about new ones once per turn, not once per name. */
  learn(userId, username) {
    if (!Number.isSafeInteger(userId) || typeof username !== "string" || !username) return;
    if (this.names.get(userId) === username) return;
    this.names.set(userId, username);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }

  /** The names a frame carries: a message's author and whom it quotes, presence, typing. */
  learnFrom(frame) {
    if (frame?.type === "message_updated") {
      this.learnFrom(frame.message);
    } else if (frame?.type === "message") {
      this.learn(frame.sender_id, frame.username);
      if (frame.reply_preview) this.learn(frame.reply_preview.sender_id, frame.reply_preview.username);
    } else if (frame?.type === "presence" || frame?.type === "typing") {
      this.learn(frame.user_id, frame.username);
    }
  }

  /** @param {() => void} listener called after new names were learned */
  onChange(listener) {
    this.listeners.push(listener);
  }

  /** The name of a user, or null when this page has not met them. */
  known(userId) {
    return this.names.get(userId) ?? null;
  }

  /** A name to show: "user 12" until the name is known. */
  name(userId) {
    return this.known(userId) ?? `user ${userId}`;
  }

  /** Everyone met but the reader, by name: [{id, username}]. */
  others() {
    return [...this.names.entries()]
      .filter(([id]) => id !== this.me.id)
      .map(([id, username]) => ({ id, username }))
      .sort((a, b) => a.username.localeCompare(b.username));
  }
}
