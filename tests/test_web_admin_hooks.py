"""A room's webhooks, their dead letters and bots in the admin panel, in a real Chromium.

* A room owner adds a webhook whose receiver refuses connections
  (``https://127.0.0.1:1/``, private addresses allowed for the test, and
  ``WEBHOOK_RETRY_FOR=0`` so its first failure is a dead letter). The
  test drives delivery itself (one poll, then ``settled()``: the service's
  own poll runs once an hour here), so nothing waits on a clock. The secret
  is shown once; the dead letter shows its event and error; Retry marks it
  pending, Discard removes it (and the server agrees); the webhook is
  deleted after an in-page confirmation.
* With private addresses refused (the default), ``https://127.0.0.1/`` is
  refused next to the URL input, in the server's words, with no dialog.
* A room owner creates a bot of the room: its key is shown once and works;
  after "Revoke key" it is refused (401) and the row says so.
"""

from __future__ import annotations

import urllib.error
from typing import TYPE_CHECKING

from twisted.trial.unittest import TestCase

from tests.browser_support import SKIP, ChatPage, LiveChat, in_browser, live_chat
from tests.test_web_admin import expect, open_admin, register

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REFUSING = "https://127.0.0.1:1/hook"


def deliver(server: LiveChat) -> None:
    """From the browser's thread: one delivery poll, and wait until its runs are over."""
    assert server.chat is not None
    delivery = server.chat.webhook_delivery

    async def run() -> None:
        await delivery.poll()
        await delivery.settled()

    server.blocking(run)


def manage_new_room(
    browser: Browser, server: LiveChat, owner_name: str, room_name: str
) -> tuple[str, int, ChatPage]:
    """``owner_name`` makes ``room_name`` and opens its view in the admin panel.

    Returns the owner's token, the room's id and the admin panel's tab.
    """
    owner, _ = register(server, owner_name)
    room = server.api("POST", "api/rooms", {"name": room_name}, owner)["id"]
    tab = open_admin(browser, server, owner_name)
    tab.page.get_by_role("button", name=f"Manage {room_name}").click()
    return owner, room, tab


class AdminWebhookTests(TestCase):
    """Webhooks, dead letters and bots through the room's view of the panel."""

    skip = SKIP

    async def test_an_owner_sees_a_dead_letter_and_retries_and_discards_it(self) -> None:
        """Add (secret once), dead letter with its error, Retry, Discard, delete."""
        server = await live_chat(
            self,
            bcrypt_rounds=4,
            webhook_allow_private=True,
            webhook_retry_for=0.0,
            webhook_poll_interval=3600.0,
        )

        def scenario(browser: Browser) -> None:
            owner, room, tab = manage_new_room(browser, server, "hook_owner", "Hook room")
            page = tab.page
            expect(page.locator("#webhooks-status")).to_have_text(
                "No webhook: the room's events go nowhere."
            )
            page.get_by_label("Add a webhook: the receiver's URL (https)").fill(REFUSING)
            page.get_by_role("button", name="Add webhook").click()
            secret = page.get_by_label(f"Signing secret of {REFUSING}")
            expect(secret).to_have_value(_starts_with("whsec_"))
            expect(secret).to_have_attribute("readonly", "")
            expect(page.locator("#webhook-secret")).to_contain_text("Shown once")
            expect(page.locator("#webhooks-list li")).to_have_count(1)
            expect(page.locator("#webhooks-list .hook-url")).to_have_text(REFUSING)
            # The secret is in no other answer: listing has none.
            listed = server.api("GET", f"api/rooms/{room}/webhooks", token=owner)
            self.assertNotIn("secret", listed[0])
            page.get_by_role("button", name="Done").click()
            expect(page.locator("#webhook-secret")).to_be_hidden()

            sent = server.api("POST", "api/messages", {"room_id": room, "content": "hi"}, owner)
            deliver(server)
            page.get_by_role("button", name=f"Dead letters of {REFUSING}").click()
            letters = page.locator(".dead-letters tbody tr")
            expect(letters).to_have_count(1)
            expect(letters.locator("td").first).to_have_text(str(sent["id"]))
            expect(letters.locator(".letter-error")).to_contain_text("ConnectionRefused")
            expect(letters.locator("td").nth(1)).to_have_text("1")

            page.get_by_role("button", name=f"Retry event {sent['id']}").click()
            expect(letters.locator(".badge", has_text="retry pending")).to_be_visible()
            expect(page.get_by_role("button", name=f"Retry event {sent['id']}")).to_be_disabled()
            deliver(server)  # the retry fails too: a dead letter again, attempted twice
            # Folding and unfolding the list reads it again (no list redrawn under the click).
            fold = page.get_by_role("button", name=f"Dead letters of {REFUSING}")
            fold.click()
            expect(fold).to_have_attribute("aria-expanded", "false")
            fold.click()
            expect(letters).to_have_count(1)
            expect(letters.locator(".badge")).to_have_count(0)

            page.get_by_role("button", name=f"Discard event {sent['id']}").click()
            expect(letters).to_have_count(0)
            expect(page.locator(".dead-letters")).to_contain_text(
                f"Event {sent['id']} was discarded."
            )
            self.assertEqual(
                server.api(
                    "GET", f"api/rooms/{room}/webhooks/{listed[0]['id']}/dead-letters", token=owner
                ),
                [],
            )

            page.get_by_role("button", name=f"Delete webhook {REFUSING}").click()
            page.get_by_role("button", name="Delete for good").click()
            expect(page.locator("#webhooks-list li")).to_have_count(0)
            self.assertEqual(server.api("GET", f"api/rooms/{room}/webhooks", token=owner), [])
            self.assertEqual((tab.errors, tab.dialogs), ([], []))

        await in_browser(scenario)

    async def test_a_private_url_is_refused_next_to_the_input_and_a_bot_is_made_and_revoked(
        self,
    ) -> None:
        """Default settings: the SSRF refusal in the page; a bot's key shown once, then revoked."""
        server = await live_chat(self, bcrypt_rounds=4)

        def scenario(browser: Browser) -> None:
            owner, room, tab = manage_new_room(browser, server, "bot_owner", "Bot room")
            page = tab.page
            url = page.get_by_label("Add a webhook: the receiver's URL (https)")
            url.fill("https://127.0.0.1/")
            page.get_by_role("button", name="Add webhook").click()
            error = page.locator("#webhook-error")
            expect(error).to_contain_text("'url' is refused")
            expect(url).to_be_focused()
            expect(page.locator("#webhooks-list li")).to_have_count(0)
            self.assertEqual(server.api("GET", f"api/rooms/{room}/webhooks", token=owner), [])

            expect(page.locator("#bots-status")).to_have_text("No bot of this room.")
            page.get_by_label("Create a bot named").fill("ci_bot")
            page.get_by_role("button", name="Create bot").click()
            key_field = page.get_by_label("API key of the bot ci_bot")
            expect(key_field).to_have_value(_starts_with("cb_"))
            expect(page.locator("#bot-key")).to_contain_text("Shown once")
            key = key_field.input_value()
            rows = page.locator("#bots-list tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("this room")
            expect(rows.locator(".bot-key-state")).to_contain_text("key since")
            # The key works: the bot joined the room and posts in it.
            server.api("POST", "api/messages", {"room_id": room, "content": "beep"}, key)
            # A taken name is refused next to the name input.
            page.get_by_label("Create a bot named").fill("ci_bot")
            page.get_by_role("button", name="Create bot").click()
            expect(page.locator("#bot-error")).not_to_be_empty()

            page.get_by_role("button", name="Revoke the key of ci_bot").click()
            expect(rows.locator(".bot-key-state")).to_have_text("no key (revoked)")
            with self.assertRaises(urllib.error.HTTPError) as refused:
                server.api("POST", "api/messages", {"room_id": room, "content": "x"}, key)
            self.assertEqual(refused.exception.code, 401)
            self.assertEqual((tab.errors, tab.dialogs), ([], []))

        await in_browser(scenario)


def _starts_with(prefix: str) -> object:
    import re

    return re.compile("^" + re.escape(prefix))
