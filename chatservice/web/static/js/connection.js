// One room's WebSocket, kept open: tickets, resume, and reconnecting by itself.
//
// Each (re)connection asks POST api/ws-ticket for a single-use ticket (the
// token never goes into a URL) and connects to "ws" next to the page, with
// `since` = the last event id the room has seen, so the server replays
// exactly what was missed (docs/protocol.md, "Resume"). A connection that
// drops, or a server that restarts, is retried with a growing delay; the
// retry comes at once when the browser says it is back online.
//
// A browser does not say why a handshake failed. When a socket closes
// without having opened, `check` asks the API whether the room is still
// there for the reader (removed while offline, the handshake would be
// refused forever): it answers false to stop retrying.

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
const CLOSE_POLICY = 1008;
// The session is over (docs/protocol.md, "Close codes"): revoked or deleted
// (4001), or the account disabled by a server admin (4002). No retry: the
// page goes back to its log-in screen and says why.
const CLOSE_ENDED = { 4001: "unauthorized", 4002: "account_disabled" };
// The server closed the room to this user: left, kicked or banned. No retry.
const CLOSE_REMOVED = 4003;

/** The ws: or wss: URL of the room's socket, relative to the page. */
export function socketUrl(base, params) {
  const url = new URL("ws", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
  }
  return url.toString();
}

export class RoomConnection {
  /**
   * @param {object} options
   * @param {import("./api.js").Api} options.api
   * @param {number} options.roomId
   * @param {() => number} options.cursor the largest event id seen (for `since`)
   * @param {(frame: object) => void} options.onFrame every frame, parsed
   * @param {(state: string, detail?: object) => void} options.onState
   *   "connecting", "connected", "reconnecting" (detail.delayMs) or "closed"
   * @param {() => void} options.onOpen each time a socket opens
   * @param {(code: string) => void} options.onAuthLost the session is over
   * @param {(reason: string) => void} options.onRemoved the room is closed to this user
   * @param {() => Promise<boolean>} options.check after a failed handshake: try again?
   */
  constructor({ api, roomId, cursor, onFrame, onState, onOpen, onAuthLost, onRemoved, check }) {
    Object.assign(this, { api, roomId, cursor, onFrame, onState, onOpen, onAuthLost, onRemoved, check });
    this.socket = null;
    this.timer = null;
    this.failures = 0;
    this.stopped = false;
    this.onBrowserOnline = () => this.retryNow();
  }

  start() {
    window.addEventListener("online", this.onBrowserOnline);
    this.connect();
  }

  /** Close for good (leaving the room, logging out): no reconnect. */
  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onBrowserOnline);
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "leaving");
    this.socket = null;
    this.onState("closed");
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Send one frame; false when no socket is open (the caller keeps it for later). */
  send(frame) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  async connect() {
    this.timer = null;
    this.onState(this.failures === 0 ? "connecting" : "reconnecting", { attempt: this.failures });
    let ticket;
    try {
      ticket = (await this.api.ticket()).ticket;
    } catch (error) {
      if (this.stopped) return;
      if (error.status === 401 || error.code === "account_disabled") {
        this.onAuthLost(error.code);
        return;
      }
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return;
    const url = socketUrl(this.api.base, { roomId: this.roomId, ticket, since: this.cursor() });
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      opened = true;
      this.failures = 0;
      this.onState("connected");
      this.onOpen();
    });
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (event.code === CLOSE_POLICY && /token expired/i.test(event.reason)) {
        this.onAuthLost("token_expired");
        return;
      }
      if (event.code in CLOSE_ENDED) {
        this.stop();
        this.onAuthLost(CLOSE_ENDED[event.code]);
        return;
      }
      if (event.code === CLOSE_REMOVED) {
        this.stop();
        this.onRemoved(event.reason);
        return;
      }
      if (opened) {
        this.scheduleRetry();
        return;
      }
      this.onState("reconnecting", { attempt: this.failures + 1 });
      this.check().then((again) => {
        if (again && !this.stopped && this.socket === null) this.scheduleRetry();
      });
    });
  }

  scheduleRetry() {
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    this.failures += 1;
    // Spread out the reconnections of many pages after a restart.
    const delayMs = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.onState("reconnecting", { attempt: this.failures, delayMs });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  /** Try now rather than at the end of the current delay. */
  retryNow() {
    if (this.stopped || this.timer === null) return;
    clearTimeout(this.timer);
    this.connect();
  }
}
