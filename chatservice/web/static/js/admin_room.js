// One room in the admin panel: its members and roles, archive, delete, its log.
//
// Archive and delete act through the scope (a server admin's routes, or
// the owner's and moderators' own); naming or removing moderators is the
// room owner's, so those buttons show only when the reader owns the room.
// Deleting asks once more, in the page (no dialog), before it is done.
// The room's webhooks and bots have panels of their own.

import { AuditPager } from "./admin_audit.js";
import { BotsPanel } from "./admin_bots.js";
import { kind } from "./admin_rooms.js";
import { WebhooksPanel } from "./admin_webhooks.js";
import { byId, clear, h } from "./dom.js";
import { refusal } from "./errors.js";

const ORDER = { owner: 0, moderator: 1, member: 2 };

export class RoomDetail {
  /**
   * @param {object} scope from admin_scope.js
   * @param {import("./people.js").People} people
   * @param {import("./admin_hooks_api.js").HooksApi} hooks
   * @param {object} on
   * @param {(room: object) => void} on.changed the server's Room after an archive
   * @param {(room: object) => void} on.deleted
   * @param {(room: object) => void} on.closed the view of this room was closed
   */
  constructor(scope, people, hooks, on) {
    Object.assign(this, { scope, people, on });
    this.webhooks = new WebhooksPanel(hooks);
    this.bots = new BotsPanel(hooks);
    this.room = null;
    this.members = [];
    this.section = byId("room-detail");
    this.title = byId("room-detail-title");
    this.kinds = byId("room-detail-kinds");
    this.reason = byId("room-reason");
    this.archiveButton = byId("room-archive");
    this.deleteButton = byId("room-delete");
    this.confirm = byId("room-delete-confirm");
    this.error = byId("room-error");
    this.memberList = byId("room-members");
    this.memberStatus = byId("room-members-status");
    this.audit = new AuditPager({
      list: byId("room-audit"),
      status: byId("room-audit-status"),
      more: byId("room-audit-more"),
      people,
    });
    this.archiveButton.addEventListener("click", () => this.archive());
    this.deleteButton.addEventListener("click", () => this.ask());
    byId("room-delete-no").addEventListener("click", () => this.unask());
    byId("room-delete-yes").addEventListener("click", () => this.remove());
    byId("room-detail-close").addEventListener("click", () => this.close());
    this.section.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
  }

  open(room) {
    this.room = room;
    this.section.hidden = false;
    this.reason.value = "";
    this.error.textContent = "";
    this.unask({ focus: false });
    this.draw();
    this.loadMembers();
    this.webhooks.open(room);
    this.bots.open(room);
    this.audit.load((before, limit) => this.scope.audit(room.id, before, limit), this.scope.names);
    this.title.focus();
  }

  close() {
    const room = this.room;
    this.room = null;
    this.webhooks.close();
    this.bots.close();
    this.section.hidden = true;
    if (room) this.on.closed(room);
  }

  draw() {
    const room = this.room;
    this.title.textContent = room.name;
    this.title.tabIndex = -1;
    clear(this.kinds);
    this.kinds.append(badge(kind(room)), room.archived ? badge("archived") : "");
    this.archiveButton.textContent = room.archived ? "Unarchive room" : "Archive room";
    this.archiveButton.className = room.archived ? "" : "secondary";
    this.deleteButton.hidden = !this.scope.remove;
  }

  async loadMembers() {
    const room = this.room;
    this.memberStatus.textContent = "Loading members…";
    clear(this.memberList);
    let members;
    try {
      members = await this.scope.members(room.id);
    } catch (error) {
      if (room === this.room && error.status !== 401) this.memberStatus.textContent = refusal(error);
      return;
    }
    if (room !== this.room) return;
    for (const member of members) this.people.learn(member.user_id, member.username);
    this.members = members;
    this.memberStatus.textContent = `${members.length} member${members.length === 1 ? "" : "s"} (joined, invited or banned).`;
    this.drawMembers();
  }

  drawMembers() {
    const me = this.people.me.id;
    const owns = this.members.some((m) => m.user_id === me && m.role === "owner" && m.state === "joined");
    clear(this.memberList);
    const sorted = [...this.members].sort(
      (a, b) => ORDER[a.role] - ORDER[b.role] || a.username.localeCompare(b.username),
    );
    for (const member of sorted) {
      const badges = [member.state !== "joined" && badge(member.state), member.muted && badge("muted")];
      this.memberList.append(
        h(
          "tr",
          {},
          h("td", {}, h("span", { class: "cell-name", text: member.username })),
          h("td", {}, badge(member.role)),
          h("td", {}, member.state === "joined" && !member.muted ? "joined" : badges),
          h("td", {}, owns ? this.roleButton(member) : ""),
        ),
      );
    }
  }

  roleButton(member) {
    if (member.role === "owner" || member.state !== "joined") return "";
    const role = member.role === "moderator" ? "member" : "moderator";
    const words = role === "moderator" ? "Make moderator" : "Make member";
    return h("button", {
      type: "button",
      class: "secondary",
      "aria-label": `${words}: ${member.username}`,
      text: words,
      onclick: () => this.setRole(member, role),
    });
  }

  async setRole(member, role) {
    const room = this.room;
    this.error.textContent = "";
    try {
      const changed = await this.scope.setRole(room.id, member.user_id, role);
      if (room !== this.room) return;
      this.members = this.members.map((m) => (m.user_id === changed.user_id ? changed : m));
      this.drawMembers();
      this.audit.load((before, limit) => this.scope.audit(room.id, before, limit));
    } catch (error) {
      if (room === this.room && error.status !== 401) this.error.textContent = refusal(error);
    }
  }

  async archive() {
    const room = this.room;
    this.error.textContent = "";
    this.archiveButton.disabled = true;
    try {
      const changed = await this.scope.archive(room, !room.archived, this.reason.value.trim());
      if (room !== this.room) return;
      this.room = { ...room, ...changed };
      this.reason.value = "";
      this.draw();
      this.on.changed(this.room);
      this.audit.load((before, limit) => this.scope.audit(room.id, before, limit));
    } catch (error) {
      if (room === this.room && error.status !== 401) this.error.textContent = refusal(error);
    } finally {
      this.archiveButton.disabled = false;
    }
  }

  ask() {
    byId("room-delete-question").textContent =
      `Delete “${this.room.name}” for everyone? Its messages go with it; this cannot be undone.`;
    this.confirm.hidden = false;
    byId("room-delete-no").focus();
  }

  unask({ focus = true } = {}) {
    this.confirm.hidden = true;
    if (focus) this.deleteButton.focus();
  }

  async remove() {
    const room = this.room;
    this.error.textContent = "";
    try {
      await this.scope.remove(room, this.reason.value.trim());
    } catch (error) {
      if (room === this.room && error.status !== 401) {
        this.unask();
        this.error.textContent = refusal(error);
      }
      return;
    }
    this.on.deleted(room);
    if (room === this.room) this.close();
  }
}

function badge(text) {
  return h("span", { class: `badge badge-${text}`, text });
}
