// The open room's header: its name, description and kind, and the buttons
// of its panels (members for everyone; settings for its owner and
// moderators). The kind is written out ("Private room", "Archived"), so
// it needs no icon to be understood.

import { byId, clear, h } from "./dom.js";
import { roomKinds } from "./rooms.js";

export class RoomHeader {
  constructor() {
    this.title = byId("room-title");
    this.kinds = byId("room-kinds");
    this.description = byId("room-description");
    this.membersToggle = byId("members-toggle");
    this.settingsToggle = byId("settings-toggle");
  }

  show(room) {
    this.title.textContent = room.name;
    this.description.textContent = room.description ?? "";
    clear(this.kinds);
    for (const [kind, text] of roomKinds(room)) {
      this.kinds.append(h("span", { class: `badge badge-${kind}`, text: capitalised(text) }));
    }
    document.title = `${room.name} · Chat`;
  }

  /** Which panel buttons the reader gets. */
  tools({ moderates }) {
    this.membersToggle.hidden = false;
    this.settingsToggle.hidden = !moderates;
  }
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
