"""The chat page's "Notify me" toggle and its service worker (Web Push).

Headless Chromium reaches no push service, so the browser's side of a
subscription is a stub (``PushManager.prototype.subscribe`` and
``getSubscription``, added before the page's scripts run) that hands out a
subscription with real P-256 keys from ``tests.push_support.Browser``; the
server checks and stores it as it would a real one. The worker itself is
the real one: a push is delivered to it through the DevTools protocol
(``ServiceWorker.deliverPushMessage``) and the notification it shows is
read back with ``registration.getNotifications()``.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from chatservice.push_models import b64url_decode
from chatservice.web.files import PAGE_POLICY
from tests.browser_support import DESKTOP, SKIP, ChatPage, in_browser, live_chat
from tests.push_support import PUSH_SETTINGS, VAPID_PUBLIC_KEY, Browser
from tests.rest_support import RestTestCase
from tests.test_web_a11y import AXE, BLOCKING, summary, violations
from tests.test_web_files import directives

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Never requested here: the user is online while the page is open.
ENDPOINT = "https://127.0.0.1:9/push/this-browser"
# The stub keeps its subscription in localStorage, so it outlives a reload
# as a real one does; the key it was made with is kept too (base64).
STUB = """
(fake) => {
  if (typeof PushManager === "undefined") return;
  const STORED = "test.push-subscription";
  const bytes = (base64) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const made = (base64) => ({
    endpoint: fake.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: bytes(base64).buffer },
    toJSON: () => ({ endpoint: fake.endpoint, expirationTime: null, keys: fake.keys }),
    unsubscribe: async () => {
      localStorage.removeItem(STORED);
      return true;
    },
  });
  PushManager.prototype.getSubscription = async function () {
    const saved = localStorage.getItem(STORED);
    return saved === null ? null : made(saved);
  };
  PushManager.prototype.subscribe = async function (options) {
    const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)));
    localStorage.setItem(STORED, key);
    return made(key);
  };
}
"""
NOTIFICATIONS = """
async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
}
"""


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class WorkerFileTests(RestTestCase):
    """``GET /sw.js``: the worker, beside the page, and a page policy that lets it run."""

    def test_worker_is_javascript_beside_the_page(self) -> None:
        """JavaScript at sw.js (its scope is then the page's folder); the page allows workers."""
        reply = self.request("GET", "/sw.js")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), "text/javascript; charset=utf-8")
        self.assertEqual(reply.header("x-content-type-options"), "nosniff")
        self.assertIn(b'addEventListener("push"', reply.body)
        self.assertIn(b'addEventListener("notificationclick"', reply.body)
        policy = directives(PAGE_POLICY.decode())
        self.assertEqual(policy["worker-src"], "'self'")
        self.assertEqual(policy["trusted-types"], "chat-worker")
        self.assertEqual(policy["default-src"], "'none'")


def session_token(page: Page) -> str:
    """The token of the page's session."""
    token: str = page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('chatservice.session')).token"
    )
    return token


def stub_push(page: Page, browser_keys: Browser) -> None:
    """From the next load on: the stubbed PushManager, and notifications allowed."""
    fake = browser_keys.subscription(ENDPOINT)
    page.context.add_init_script(f"({STUB})({json.dumps(fake)})")
    page.context.grant_permissions(["notifications"])


def deliver_push(page: Page, origin: str, payload: dict[str, Any]) -> None:
    """Hand ``payload`` to the page's service worker as a push, through DevTools."""
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    # Each round trip to the page lets the session's events in.
    for _ in range(100):
        if registrations:
            break
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    live = [r for r in registrations if not r["isDeleted"]]
    assert len(live) == 1, registrations
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": origin,
            "registrationId": live[0]["registrationId"],
            "data": json.dumps(payload),
        },
    )
    cdp.detach()


class NotifyToggleTests(TestCase):
    """The toggle subscribes and unsubscribes on both sides; the worker shows pushes."""

    skip = SKIP

    async def test_toggle_registers_and_removes_the_subscription(self) -> None:
        """On: the server stores the browser's subscription; a reload keeps it on; off: gone."""
        server = await live_chat(self, prefix="/chat", **PUSH_SETTINGS)
        keys = Browser()
        origin = server.url.split("/chat/")[0]

        def scenario(browser: Any) -> dict[str, Any]:
            tab = ChatPage.open(browser, server.url, DESKTOP)
            stub_push(tab.page, keys)
            tab.page.reload()
            tab.register("push_alice")
            token = session_token(tab.page)
            toggle = tab.page.get_by_role("checkbox", name="Notify me")
            expect(toggle).to_be_visible()
            expect(toggle).not_to_be_checked()
            found: dict[str, Any] = {"axe": violations(tab.page) if AXE else []}
            toggle.check()
            expect(tab.page.locator("#push-status")).to_have_text(
                "Notifications are on in this browser."
            )
            found["stored"] = server.api("GET", "api/push/subscriptions", token=token)
            found["key"] = tab.page.evaluate(
                "() => localStorage.getItem('test.push-subscription')"
            )
            tab.page.reload()
            tab.expect_connected()
            expect(toggle).to_be_checked()
            found["scopes"] = tab.page.evaluate(
                "() => navigator.serviceWorker.getRegistrations()"
                ".then((all) => all.map((r) => r.scope))"
            )
            deliver_push(
                tab.page,
                origin,
                {
                    "type": "mention",
                    "room_id": 1,
                    "room_name": "General",
                    "direct": False,
                    "message_id": 9,
                    "sender_id": 2,
                    "sender": "bob",
                    "ts": 1700000000000,
                    "excerpt": "hello @push_alice",
                },
            )
            deliver_push(
                tab.page,
                origin,
                {
                    "type": "direct",
                    "room_id": 7,
                    "room_name": "dm",
                    "direct": True,
                    "message_id": 10,
                    "sender_id": 2,
                    "sender": "bob",
                    "ts": 1700000000001,
                    "excerpt": None,
                },
            )
            tab.page.wait_for_function(f"({NOTIFICATIONS})().then((n) => n.length === 2)")
            found["notifications"] = tab.page.evaluate(NOTIFICATIONS)
            toggle.uncheck()
            expect(tab.page.locator("#push-status")).to_have_text("Notifications are off.")
            expect(toggle).not_to_be_checked()
            found["after"] = server.api("GET", "api/push/subscriptions", token=token)
            found["browser_after"] = tab.page.evaluate(
                "() => localStorage.getItem('test.push-subscription')"
            )
            # Where a click on a notification leads: the page at #room=<id>.
            linked = server.api("POST", "api/rooms", {"name": "Linked"}, token=token)
            tab.page.evaluate(f"() => {{ location.hash = 'room={linked['id']}'; }}")
            tab.page.reload()
            expect(tab.page.locator("#room-title")).to_have_text("Linked")
            found["url"] = tab.page.url
            found["errors"] = tab.errors
            return found

        found = await in_browser(scenario)
        serious = [v for v in found["axe"] if v["impact"] in BLOCKING]
        self.assertEqual(summary(serious), [])
        self.assertEqual([s["endpoint"] for s in found["stored"]], [ENDPOINT])
        # The browser subscribed with the server's VAPID public key.
        self.assertEqual(base64.b64decode(found["key"]), b64url_decode(VAPID_PUBLIC_KEY))
        self.assertEqual(found["scopes"], [server.url])
        by_tag = {n["tag"]: n for n in found["notifications"]}
        self.assertEqual(
            (by_tag["room1"]["title"], by_tag["room1"]["body"]),
            ("General: bob", "hello @push_alice"),
        )
        self.assertEqual(
            (by_tag["room7"]["title"], by_tag["room7"]["body"]),
            ("bob (direct message)", "sent you a message"),
        )
        self.assertEqual(by_tag["room7"]["data"], {"roomId": 7})
        self.assertEqual(found["after"], [])
        self.assertIsNone(found["browser_after"])
        self.assertEqual(found["url"], server.url)  # the link's hash is used once
        self.assertEqual(found["errors"], [])

    async def test_no_toggle_when_push_is_off(self) -> None:
        """Without a VAPID key the key's route is 404 and the toggle stays hidden."""
        server = await live_chat(self)

        def scenario(browser: Any) -> tuple[int, bool, list[str]]:
            tab = ChatPage.open(browser, server.url, DESKTOP)
            with tab.page.expect_response(lambda r: "vapid-public-key" in r.url) as answer:
                tab.register("push_off")
            hidden = tab.page.locator("#push-field").is_hidden()
            return answer.value.status, hidden, tab.errors

        status, hidden, errors = await in_browser(scenario)
        self.assertEqual((status, hidden), (404, True))
        self.assertEqual(errors, [])
