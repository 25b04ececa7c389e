// The connection state a person can see: connecting, connected, reconnecting.
//
// A polite live region (role="status"), so a screen reader hears it change
// without being interrupted; the colour follows `data-state`, the words say
// the same thing for those who cannot see the colour.

import { byId } from "./dom.js";

const WORDS = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Not connected",
};

export class ConnectionStatus {
  constructor() {
    this.element = byId("connection-status");
  }

  /** @param {"connecting"|"connected"|"reconnecting"|"closed"} state */
  set(state, detail = {}) {
    let words = WORDS[state] ?? state;
    if (state === "reconnecting" && detail.delayMs >= 1000) {
      words = `Connection lost. Retrying in ${Math.round(detail.delayMs / 1000)} s…`;
    }
    if (this.element.textContent !== words) this.element.textContent = words;
    this.element.dataset.state = state;
  }
}
