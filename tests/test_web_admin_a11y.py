"""The admin panel is accessible: axe-core finds nothing serious, at desktop and phone width.

axe-core is the one ``tests/test_web_a11y.py`` runs (from the
``axe-playwright-python`` package, never a CDN), on each of the panel's
screens: its log-in, users, rooms with a room open (members, roles, its
log, the delete confirmation), a room's webhooks (a new one's secret, a
refused URL, dead letters, the delete confirmation) and bots (a new
one's key), the whole audit log, and a room owner's view. At 375 pixels nothing scrolls sideways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import DESKTOP, PASSWORD, PHONE, SKIP, ChatPage, in_browser, live_chat
from tests.test_web_a11y import AXE, BLOCKING, expect, summary, violations
from tests.test_web_admin import grant_admin, register
from tests.test_web_admin_hooks import deliver

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def no_sideways_scroll(test: TestCase, page: Page) -> None:
    """The page is no wider than a phone's screen."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    test.assertLessEqual(max(widths), PHONE["width"])


class AdminAccessibilityTests(TestCase):
    """axe-core on each screen of the admin panel."""

    skip = SKIP or (None if AXE else "axe-playwright-python (axe.min.js) is missing")

    async def test_no_serious_or_critical_violations(self) -> None:
        """A server admin's screens at both widths, and a room owner's on a phone."""
        server = await live_chat(
            self,
            bcrypt_rounds=4,  # quick accounts
            # A webhook to a closed local port: its first failure is a dead letter.
            webhook_allow_private=True,
            webhook_retry_for=0.0,
            webhook_poll_interval=3600.0,  # the test delivers (deliver())
        )

        def scenario(browser: Browser) -> dict[str, list[dict[str, Any]]]:
            found: dict[str, list[dict[str, Any]]] = {}
            register(server, "axe_admin")
            grant_admin(server, "axe_admin")
            owner, _ = register(server, "axe_owner")
            _, member_id = register(server, "axe_member")
            room = server.api("POST", "api/rooms", {"name": "Axe room"}, owner)["id"]
            server.api("POST", f"api/rooms/{room}/invites", {"user_id": member_id}, owner)
            hooked = server.api("POST", "api/rooms", {"name": "Axe hooks"}, owner)["id"]
            for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                tab = ChatPage.open(browser, server.url + "admin", viewport)
                page = tab.page
                expect(page.get_by_label("Username")).to_be_focused()
                found[f"log-in, {width}"] = violations(page)
                page.get_by_label("Username").fill("axe_admin")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                # Three people, and the desktop round's bot on the phone.
                expect(page.locator("#users-list tr")).to_have_count(
                    3 if width == "desktop" else 4
                )
                if width == "desktop":
                    page.get_by_role("button", name="Disable axe_member").click()
                    expect(page.get_by_role("button", name="Enable axe_member")).to_be_visible()
                found[f"users, {width}"] = violations(page)
                page.get_by_role("button", name="Rooms").click()
                page.get_by_role("button", name="Manage Axe room").click()
                expect(page.locator("#room-members tr")).to_have_count(2)
                page.locator("#room-archive").click()  # archive, then unarchive
                expect(page.locator("#room-audit li")).to_have_count(
                    1 if width == "desktop" else 2
                )
                page.get_by_role("button", name="Delete room").click()
                expect(page.get_by_role("button", name="Delete for good")).to_be_visible()
                found[f"a room, {width}"] = violations(page)
                page.get_by_role("button", name="Close").click()
                page.get_by_role("button", name="Manage Axe hooks").click()
                url = page.get_by_label("Add a webhook: the receiver's URL (https)")
                url.fill("http://plain.example.com/")
                page.get_by_role("button", name="Add webhook").click()
                expect(page.locator("#webhook-error")).not_to_be_empty()
                hook = f"https://127.0.0.1:1/{width}"
                url.fill(hook)
                page.get_by_role("button", name="Add webhook").click()
                expect(page.get_by_label(f"Signing secret of {hook}")).to_be_visible()
                # Drawn by the list's reload after the add: nothing redraws it under a click.
                expect(page.locator("#webhooks-list .hook-url", has_text=hook)).to_have_count(1)
                server.api("POST", "api/messages", {"room_id": hooked, "content": width}, owner)
                deliver(server)
                page.get_by_role("button", name=f"Dead letters of {hook}").click()
                expect(page.locator(f".dead-letters:has-text('{hook}') tbody tr")).to_have_count(1)
                page.get_by_role("button", name=f"Delete webhook {hook}").click()
                expect(page.get_by_role("button", name="Delete for good")).to_be_visible()
                page.get_by_label("Create a bot named").fill(f"axe_bot_{width}")
                page.get_by_role("button", name="Create bot").click()
                expect(page.get_by_label(f"API key of the bot axe_bot_{width}")).to_be_visible()
                found[f"a room's webhooks and bots, {width}"] = violations(page)
                if width == "phone":
                    no_sideways_scroll(self, page)
                page.get_by_role("button", name="Audit log").click()
                expect(page.locator("#audit-list li")).not_to_have_count(0)
                found[f"audit log, {width}"] = violations(page)
                if width == "phone":
                    no_sideways_scroll(self, page)
                self.assertEqual(tab.errors, [])
            tab = ChatPage.open(browser, server.url + "admin", PHONE)
            tab.page.get_by_label("Username").fill("axe_owner")
            tab.page.get_by_label("Password").fill(PASSWORD)
            tab.page.get_by_role("button", name="Log in").click()
            tab.page.get_by_role("button", name="Manage Axe room").click()
            expect(tab.page.locator("#room-members tr")).to_have_count(2)
            found["a room owner's room, phone"] = violations(tab.page)
            no_sideways_scroll(self, tab.page)
            self.assertEqual(tab.errors, [])
            return found

        found = await in_browser(scenario)
        self.assertEqual(len(found), 11)
        for screen, screen_violations in found.items():
            serious = [v for v in screen_violations if v["impact"] in BLOCKING]
            self.assertEqual(summary(serious), [], screen)
