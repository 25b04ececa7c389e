"""Unread and mention badges on the chat page, in a real Chromium (issue 15).

One scenario, because each step needs the state the last one left: bob
has two tabs sitting in General; alice posts three messages in Design (bob
a member), the last one "@bob". Both of bob's tabs show Design's badges,
with the counts in the button's accessible name, and a polite notice
"alice mentioned you in Design" (axe finds nothing serious on that page).
Bob opens Design in his first tab: the mention is highlighted, the page
marks the room read over its socket, and the badges clear in that tab and
in the other one, which learns it from a ``read_marker`` frame.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import DESKTOP, PASSWORD, SKIP, ChatPage, in_browser, live_chat
from tests.test_web_a11y import AXE, BLOCKING, summary, violations

if TYPE_CHECKING:
    from playwright.sync_api import Browser

MENTION = "@bob the mock-ups are ready"


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def log_in(tab: ChatPage, username: str) -> None:
    """Log in from the log-in screen and wait for the room to connect."""
    tab.page.get_by_label("Username").fill(username)
    tab.page.get_by_label("Password").fill(PASSWORD)
    tab.page.get_by_role("button", name="Log in", exact=True).click()
    tab.expect_connected()


def frames_of(tab: ChatPage) -> list[dict[str, Any]]:
    """Every frame the tab's sockets receive from now on, parsed."""
    frames: list[dict[str, Any]] = []

    def received(payload: Any) -> None:
        try:
            frames.append(json.loads(payload))
        except ValueError:
            pass

    tab.page.on("websocket", lambda socket: socket.on("framereceived", received))
    return frames


class UnreadBadgeTests(TestCase):
    """Badges go up with the server's notifications and clear with its read markers."""

    skip = SKIP or (None if AXE else "axe-playwright-python (axe.min.js) is missing")

    async def test_badges_notice_and_read_markers_across_tabs(self) -> None:
        """3 unread, 1 mention in two tabs; opening the room clears both (one by a frame)."""
        server = await live_chat(self, bcrypt_rounds=4)  # quick accounts: not what is tested

        def scenario(browser: Browser) -> list[str]:
            body = {"password": PASSWORD}
            server.api("POST", "api/register", {"username": "bob", **body})
            alice = server.api("POST", "api/register", {"username": "alice", **body})["token"]
            design = server.api("POST", "api/rooms", {"name": "Design"}, token=alice)["id"]
            bob = server.api("POST", "api/login", {"username": "bob", **body})["token"]
            server.api("POST", f"api/rooms/{design}/join", token=bob)

            first = ChatPage.open(browser, server.url, DESKTOP)
            log_in(first, "bob")
            second = ChatPage.open(browser, server.url, DESKTOP)
            frames = frames_of(second)
            log_in(second, "bob")
            for tab in (first, second):
                expect(tab.page.locator("#room-title")).to_have_text("General")
                expect(tab.room_button("Design")).to_have_accessible_name("Design")

            for content in ("First sketch", "Second sketch", MENTION):
                post = {"room_id": design, "content": content}
                server.api("POST", "api/messages", post, token=alice)
            for tab in (first, second):
                button = tab.room_button("Design")
                expect(button).to_have_accessible_name("Design, 3 unread, 1 mention")
                expect(button.locator(".count-unread")).to_have_text("3")
                expect(button.locator(".count-mention")).to_have_text("@1")
                notice = tab.page.locator("#mention-notice")
                expect(notice).to_have_text("alice mentioned you in Design")
                expect(notice).to_have_attribute("aria-live", "polite")
            # The rooms list with its badges and the notice: nothing serious.
            found = [v for v in violations(second.page) if v["impact"] in BLOCKING]

            first.open_room("Design")
            mention = first.messages(MENTION)
            expect(mention).to_have_class("message mentions-me")
            expect(mention.locator(".mention-mark")).to_have_text("mentions you")
            expect(first.messages("First sketch")).to_have_class("message")
            expect(first.page.locator("#mention-notice")).to_have_text("")
            for tab in (first, second):
                expect(tab.room_button("Design")).to_have_accessible_name("Design")
                expect(tab.room_button("Design").locator(".count")).to_have_count(0)
            markers = [
                (f["last_read_id"] > 0, f["unread"], f["mention_count"])
                for f in frames
                if f.get("type") == "read_marker" and f.get("room_id") == design
            ]
            assert markers[-1:] == [(True, 0, 0)], markers
            notices = [f for f in frames if f.get("type") == "notification"]
            assert [(f["reason"], f["room_id"]) for f in notices] == [("mention", design)], notices
            # The server agrees: the marker moved to the mention.
            rooms = server.api("GET", "api/rooms", token=bob)
            counts = [(r["unread"], r["mention_count"]) for r in rooms if r["id"] == design]
            assert counts == [(0, 0)], counts
            for tab in (first, second):
                assert tab.errors == [], tab.errors
            return summary(found)

        serious = await in_browser(scenario)
        self.assertEqual(serious, [])
