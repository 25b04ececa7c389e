// "Notify me": Web Push for mentions and direct messages while no tab is open.
//
// The toggle shows only when this browser can push and the server has a
// VAPID key (GET api/push/vapid-public-key is 404 when push is off). On:
// ask permission, subscribe with the server's key, register the
// subscription. Off: delete it on the server, then unsubscribe the browser.
// Whether it is on is asked each time, of the browser (getSubscription())
// and of the server (is that endpoint one of this user's?): so it survives a
// reload, and another account on this browser does not find it on.
// The worker (sw.js, beside the page) shows the pushes; a click on one
// opens the page at #room=<id>, or asks an open page to switch rooms.

import { byId } from "./dom.js";
import { refusal } from "./errors.js";

const WORKER = "sw.js";
let workerPolicy = null;

/** The worker's URL as register() takes it under the page's Trusted Types (one policy, one URL). */
function workerUrl() {
  if (!window.trustedTypes) return WORKER;
  workerPolicy ??= window.trustedTypes.createPolicy("chat-worker", {
    createScriptURL: (url) => {
      if (url !== WORKER) throw new TypeError(`Not the chat's service worker: ${url}`);
      return url;
    },
  });
  return workerPolicy.createScriptURL(WORKER);
}

/** True when this browser has what Web Push needs (a secure context, workers, push, notifications). */
export function pushSupported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** The bytes of URL-safe base64 (the server's public key). */
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const other = new Uint8Array(buffer);
  return other.length === bytes.length && other.every((byte, i) => byte === bytes[i]);
}

/** The room a notification's link asks for (#room=<id>), once: the hash is then cleared. */
export function roomFromLink() {
  const match = /^#room=(\d+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return Number(match[1]);
}

/** Call ``open(roomId)`` when the worker asks this page to show a room (a notification click). */
export function onOpenRoom(open) {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.addEventListener("message", (event) => {
    const roomId = event.data?.type === "open-room" ? event.data.roomId : null;
    if (Number.isSafeInteger(roomId)) open(roomId);
  });
}

export class PushToggle {
  /** @param {import("./api.js").Api} api */
  constructor(api) {
    this.api = api;
    this.field = byId("push-field");
    this.box = byId("push-toggle");
    this.status = byId("push-status");
    this.key = null; // the server's public key, bytes
    this.registration = null;
    this.subscriptionId = null; // the server's id of this browser's subscription, when on
    this.generation = 0; // a start() that a log-out overtook must not show the toggle
    this.box.addEventListener("change", () => (this.box.checked ? this.turnOn() : this.turnOff()));
  }

  /** Logged in: show the toggle if push can work here, on if this browser pushes to this user. */
  async start() {
    const generation = ++this.generation;
    this.field.hidden = true;
    this.status.textContent = "";
    if (!pushSupported()) return;
    try {
      const { public_key: publicKey } = await this.api.vapidPublicKey();
      this.key = keyBytes(publicKey);
      this.registration = await navigator.serviceWorker.register(workerUrl());
      const subscription = await this.registration.pushManager.getSubscription();
      const granted = Notification.permission === "granted";
      const mine = subscription && granted ? await this.registered(subscription) : null;
      if (generation !== this.generation) return;
      this.subscriptionId = mine?.id ?? null;
      this.box.checked = mine !== null;
      this.field.hidden = false;
    } catch {
      // Push is off on the server (404), or this browser refused the worker: no toggle.
    }
  }

  /** Logged out: hide the toggle (the subscription stays: pushes keep coming while away). */
  stop() {
    this.generation += 1;
    this.field.hidden = true;
    this.subscriptionId = null;
  }

  /** The server's record of ``subscription`` for this user, or null. */
  async registered(subscription) {
    const mine = await this.api.pushSubscriptions();
    return mine.find((stored) => stored.endpoint === subscription.endpoint) ?? null;
  }

  turnOn() {
    return this.change(false, async () => {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        this.box.checked = false;
        this.status.textContent =
          permission === "denied"
            ? "Notifications are blocked for this site in the browser's settings."
            : "Notifications were not allowed.";
        return;
      }
      const subscription = await this.subscribe();
      const stored = await this.api.addPushSubscription(subscription.toJSON());
      this.subscriptionId = stored.id;
      this.status.textContent = "Notifications are on in this browser.";
    });
  }

  /** This browser's subscription for the server's key: the one it has, or a new one. */
  async subscribe() {
    const manager = this.registration.pushManager;
    const existing = await manager.getSubscription();
    if (existing && sameKey(existing.options?.applicationServerKey, this.key)) return existing;
    await existing?.unsubscribe(); // made for another key: the server can no longer push to it
    return manager.subscribe({ userVisibleOnly: true, applicationServerKey: this.key });
  }

  turnOff() {
    return this.change(true, async () => {
      if (this.subscriptionId !== null) {
        try {
          await this.api.deletePushSubscription(this.subscriptionId);
        } catch (error) {
          if (error.status !== 404) throw error; // 404: already gone (a push service said so)
        }
        this.subscriptionId = null;
      }
      const subscription = await this.registration.pushManager.getSubscription();
      await subscription?.unsubscribe();
      this.status.textContent = "Notifications are off.";
    });
  }

  /** Run a change with the box disabled; if it fails, put the box back and say why. */
  async change(before, run) {
    this.box.disabled = true;
    this.status.textContent = "";
    try {
      await run();
    } catch (error) {
      this.box.checked = before;
      if (error.status !== 401) {
        const why = error.status !== undefined ? refusal(error) : error.message;
        this.status.textContent = `Notifications could not be changed: ${why}`;
      }
    } finally {
      this.box.disabled = false;
    }
  }
}
