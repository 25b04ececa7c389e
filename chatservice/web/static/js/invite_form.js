// Inviting someone to the open room: pick a person the page has met, or type a user id.
//
// There is no user search in the API, so the people offered are those met
// in any room this session (authors, members, who was online), less those
// the room already has. A user id typed in the second field wins over the
// pick. The form shows only where the rules let the reader invite (anyone
// in a public room, the owner and moderators in a private one); a refusal
// is written under it in the server's words.

import { byId, clear, h, onSubmit } from "./dom.js";
import { refusal } from "./errors.js";

export class InviteForm {
  /**
   * @param {import("./api.js").Api} api
   * @param {import("./people.js").People} people
   * @param {() => import("./members.js").RoomMembers|null} members the open room's
   */
  constructor(api, people, members) {
    this.api = api;
    this.people = people;
    this.members = members;
    this.form = byId("invite-form");
    this.person = byId("invite-person");
    this.userId = byId("invite-user-id");
    this.error = byId("invite-error");
    this.done = byId("invite-done");
    onSubmit(this.form, () => this.submit());
    people.onChange(() => this.draw());
  }

  reset() {
    this.userId.value = "";
    this.error.textContent = "";
    this.done.textContent = "";
  }

  /** Show the form if the reader may invite, with the people not in the room yet. */
  draw() {
    const members = this.members();
    this.form.hidden = !members?.mayInvite();
    if (this.form.hidden) return;
    const present = members.present();
    const chosen = this.person.value;
    clear(this.person);
    const people = this.people.others().filter((person) => !present.has(person.id));
    this.person.append(
      h("option", { value: "", text: people.length ? "Choose a person…" : "Nobody met yet" }),
      ...people.map((person) => h("option", { value: String(person.id), text: person.username })),
    );
    if (people.some((person) => String(person.id) === chosen)) this.person.value = chosen;
  }

  async submit() {
    const members = this.members();
    if (!members) return;
    this.error.textContent = "";
    this.done.textContent = "";
    const typed = this.userId.value.trim();
    const userId = Number(typed || this.person.value);
    if (!Number.isSafeInteger(userId) || userId < 1) {
      this.error.textContent = typed ? "A user id is a whole number, such as 12." : "Choose a person, or type a user id.";
      return;
    }
    try {
      const member = await this.api.invite(members.room.id, userId);
      this.people.learn(member.user_id, member.username);
      this.userId.value = "";
      this.done.textContent =
        member.state === "invited" ? `${member.username} is invited.` : `${member.username} is already in the room.`;
      await members.load();
    } catch (failure) {
      if (failure.status !== 401) this.error.textContent = refusal(failure);
    }
  }
}
