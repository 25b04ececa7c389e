// The members panel of the open room: who is in it, their roles and badges,
// and what the reader may do to each.
//
// Everyone sees names, roles and badges (muted, invited, banned), and may
// write to another member privately. The owner and moderators also get,
// for each member they outrank: mute or unmute, kick, ban (unban for a
// banned user), and the owner "make moderator" / "make member". An
// optional reason, typed once above the list, goes with the next action
// and shows in the room's member event. Each refusal is written under the
// member it was about, in the server's words ("Only the room's owner
// may…"). Inviting has its own form (invite_form.js); leaving is the last
// button.

import { byId, clear, h } from "./dom.js";
import { refusal } from "./errors.js";
import { InviteForm } from "./invite_form.js";

export class MembersPanel {
  /**
   * @param {import("./api.js").Api} api
   * @param {import("./people.js").People} people
   * @param {object} on
   * @param {(userId: number) => Promise<void>} on.direct write to a user privately (rejects with an ApiError)
   * @param {(room: object) => void} on.left the reader left the room
   */
  constructor(api, people, on) {
    this.api = api;
    this.people = people;
    this.on = on;
    this.members = null;
    /** @type {Map<number, string>} the last refusal about each user, kept across redraws */
    this.errors = new Map();
    this.panel = byId("members-panel");
    this.list = byId("member-list");
    this.summary = byId("members-summary");
    this.reasonField = byId("moderation-reason-field");
    this.reason = byId("moderation-reason");
    this.leaveButton = byId("leave-button");
    this.leaveError = byId("leave-error");
    this.invite = new InviteForm(api, people, () => this.members);
    this.leaveButton.addEventListener("click", () => this.leave());
  }

  /** @param {import("./members.js").RoomMembers} members the open room's */
  setRoom(members) {
    this.members = members;
    this.errors.clear();
    this.reason.value = "";
    this.leaveError.textContent = "";
    this.invite.reset();
    this.draw();
  }

  draw() {
    const members = this.members;
    if (!members) return;
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    clear(this.list);
    const rows = [...members.list].sort(
      (a, b) => order(a) - order(b) || a.username.localeCompare(b.username),
    );
    for (const member of rows) this.list.append(this.row(member));
    const joined = rows.filter((m) => m.state === "joined").length;
    const invited = rows.filter((m) => m.state === "invited").length;
    this.summary.textContent = members.loaded
      ? `${joined} member${joined === 1 ? "" : "s"}${invited ? `, ${invited} invited` : ""}`
      : "Loading the members…";
    this.reasonField.hidden = !members.moderates();
    const me = members.mine();
    this.leaveButton.hidden = !me || me.state !== "joined" || me.role === "owner";
    this.invite.draw();
    if (focused) this.list.querySelector(`[data-action="${CSS.escape(focused)}"]`)?.focus();
  }

  row(member) {
    const mine = member.user_id === this.people.me.id;
    const error = h("p", { class: "error", "aria-live": "polite", text: this.errors.get(member.user_id) ?? "" });
    const badges = [
      member.role !== "member" && member.role,
      member.state !== "joined" && member.state,
      member.muted && "muted",
    ].filter(Boolean);
    return h(
      "li",
      { class: "member", dataset: { userId: String(member.user_id) } },
      h(
        "p",
        { class: "member-head" },
        h("span", { class: "author", text: member.username }),
        mine ? h("span", { class: "hint", text: "(you)" }) : null,
        badges.map((badge) => h("span", { class: `badge badge-${badge}`, text: badge })),
        h("span", { class: "hint", text: `id ${member.user_id}` }),
      ),
      mine ? null : this.actions(member),
      error,
    );
  }

  actions(member) {
    const members = this.members;
    const button = (action, text, run, className = "link") =>
      h(
        "button",
        {
          type: "button",
          class: className,
          dataset: { action: `${action}:${member.user_id}` },
          onclick: () => this.act(member.user_id, run),
        },
        text,
        h("span", { class: "visually-hidden", text: ` ${member.username}` }),
      );
    const moderate = (action) => () =>
      this.api.moderate(members.room.id, action, member.user_id, this.reason.value.trim());
    const buttons = [];
    if (!members.room.direct) {
      buttons.push(button("direct", "Message privately", () => this.on.direct(member.user_id)));
    }
    if (members.outranks(member)) {
      if (member.state === "banned") {
        buttons.push(button("unban", "Unban", moderate("unban")));
      } else {
        if (member.state === "joined") {
          const mute = member.muted ? "unmute" : "mute";
          buttons.push(button(mute, member.muted ? "Unmute" : "Mute", moderate(mute)));
        }
        buttons.push(button("kick", "Kick", moderate("kick")));
        buttons.push(button("ban", "Ban", moderate("ban")));
      }
      if (members.owns() && member.state === "joined") {
        const role = member.role === "moderator" ? "member" : "moderator";
        const text = role === "moderator" ? "Make moderator" : "Make member";
        buttons.push(button(role, text, () => this.api.setRole(members.room.id, member.user_id, role)));
      }
    }
    if (buttons.length === 0) return null;
    return h("div", { class: "member-actions", role: "group", "aria-label": `Actions for ${member.username}` }, buttons);
  }

  /** Run one action about a user; the list is read again (the member event would also say so). */
  async act(userId, run) {
    const members = this.members;
    this.errors.delete(userId);
    this.showError(userId);
    try {
      await run();
      this.reason.value = "";
      await members.load();
    } catch (failure) {
      if (failure.status === 401 || members !== this.members) return;
      this.errors.set(userId, refusal(failure));
      this.showError(userId);
    }
  }

  showError(userId) {
    const error = this.list.querySelector(`[data-user-id="${userId}"] > .error`);
    if (error) error.textContent = this.errors.get(userId) ?? "";
  }

  async leave() {
    const room = this.members?.room;
    if (!room) return;
    this.leaveError.textContent = "";
    try {
      await this.api.leaveRoom(room.id);
      this.on.left(room);
    } catch (failure) {
      if (failure.status !== 401) this.leaveError.textContent = refusal(failure);
    }
  }
}

/** Owner first, then moderators, members, invitees and bans. */
function order(member) {
  if (member.state === "banned") return 5;
  if (member.state === "invited") return 4;
  return { owner: 1, moderator: 2 }[member.role] ?? 3;
}
