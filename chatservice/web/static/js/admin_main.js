// The admin panel (admin.html): who is logged in, what they may manage, and the sections.
//
// The same session as the chat page (sessionStorage of this tab, see
// session.js), so coming from the chat needs no second log-in. Whether the
// reader is a server admin is the server's answer to GET api/admin/users
// (403 otherwise): a server admin gets users, every room and the whole
// audit log; anyone else the rooms they own or moderate.

import { AdminApi } from "./admin_api.js";
import { AuditPager } from "./admin_audit.js";
import { HooksApi } from "./admin_hooks_api.js";
import { Sections } from "./admin_nav.js";
import { RoomDetail } from "./admin_room.js";
import { RoomsView } from "./admin_rooms.js";
import { adminScope, ownerScope } from "./admin_scope.js";
import { UsersView } from "./admin_users.js";
import { Api } from "./api.js";
import { byId } from "./dom.js";
import { describe, refusal } from "./errors.js";
import { LoginView } from "./login.js";
import { People } from "./people.js";
import { retrying } from "./retry.js";
import { clearSession, loadSession, saveSession } from "./session.js";

class AdminApp {
  constructor() {
    this.session = loadSession();
    this.api = new Api({
      token: () => this.session?.token ?? null,
      onUnauthorized: (code) => this.logOut(describe(code)),
    });
    this.admin = new AdminApi(this.api);
    this.people = new People();
    this.view = byId("admin-view");
    this.notice = byId("admin-notice");
    this.login = new LoginView(this.api, (session) => this.loggedIn(session));
    this.sections = new Sections({
      users: { button: "nav-users", section: "users-section", opened: () => this.users?.load() },
      rooms: { button: "nav-rooms", section: "rooms-section", opened: () => this.rooms?.load() },
      audit: { button: "nav-audit", section: "audit-section", opened: () => this.loadAudit() },
    });
    this.log = new AuditPager({
      list: byId("audit-list"),
      status: byId("audit-status"),
      more: byId("audit-more"),
      people: this.people,
      roomName: (roomId) => this.rooms?.roomName(roomId) ?? `room ${roomId}`,
    });
    byId("logout-button").addEventListener("click", () => this.logOut(""));
  }

  start() {
    if (this.session) this.enter();
    else this.login.show();
  }

  loggedIn(session) {
    saveSession(session);
    if (this.scope) {
      // Views of the last session are wired to this page: start afresh.
      location.reload();
      return;
    }
    this.session = session;
    this.login.hide();
    this.enter();
  }

  async enter() {
    const session = this.session;
    this.people.reset(session.user);
    this.view.hidden = false;
    byId("me-name").textContent = session.user.username;
    this.notice.textContent = "Loading…";
    let isAdmin;
    try {
      isAdmin = await retrying(() => this.probe(), { cancelled: () => this.session !== session });
    } catch (error) {
      if (this.session === session && error.status !== 401) this.notice.textContent = refusal(error);
      return;
    }
    if (this.session !== session || isAdmin === undefined) return;
    this.notice.textContent = "";
    this.setUp(isAdmin);
  }

  /** True for a server admin, false for anyone else (403 from an admin route). */
  async probe() {
    try {
      await this.admin.users({ limit: 1 });
      return true;
    } catch (error) {
      if (error.status === 403 && error.code === "forbidden") return false;
      throw error;
    }
  }

  setUp(isAdmin) {
    const scope = isAdmin ? adminScope(this.api, this.admin, this.people) : ownerScope(this.api);
    this.scope = scope;
    byId("admin-role").textContent = isAdmin ? "server admin" : "room owner";
    this.users = isAdmin ? new UsersView(this.admin, this.people) : null;
    this.detail = new RoomDetail(scope, this.people, new HooksApi(this.api), {
      changed: (room) => this.rooms.put(room),
      deleted: (room) => {
        this.rooms.drop(room.id);
        this.notice.textContent = `${room.name} was deleted.`;
      },
      // Back to the room's "Manage" button, or (the room deleted) to the list's heading.
      closed: (room) => (this.rooms.button(room.id) ?? byId("rooms-heading")).focus(),
    });
    this.rooms = new RoomsView(scope, (room) => this.detail.open(room));
    this.sections.offer("users", isAdmin);
    this.sections.offer("audit", isAdmin);
    this.sections.show(isAdmin ? "users" : "rooms");
  }

  loadAudit() {
    if (!this.scope?.admin) return;
    this.log.load((before, limit) => this.admin.audit({ before, limit }), this.scope.names);
  }

  logOut(message) {
    this.session = null;
    clearSession();
    this.view.hidden = true;
    this.sections.hideAll();
    this.login.show(message);
  }
}

new AdminApp().start();
