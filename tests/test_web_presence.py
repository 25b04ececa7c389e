"""Who is online, who is typing, and search, in a real Chromium (two people in General).

* Online: a page lists the people it heard arrive (and anyone heard
  typing); a page that closes takes its person off the other's list.
* Typing: keys in one page show "… is typing" in the other, which ends
  when that person's message arrives.
* Search: every room the reader may read, newest first, drawn as text;
  "Only this room" narrows it; "Show" opens the room and marks the message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import DESKTOP, PHONE, SKIP, ChatPage, in_browser, live_chat

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class PresenceAndSearchTests(TestCase):
    """The room's header and the search panel, as two people use them."""

    skip = SKIP

    async def test_online_typing_and_search(self) -> None:
        """Arrivals and departures, a typing notice that ends with the message, search."""
        server = await live_chat(self, bcrypt_rounds=4)  # quick accounts: not what is tested

        def scenario(browser: Browser) -> None:
            alice = ChatPage.open(browser, server.url, DESKTOP)
            alice.register("alice")
            online = alice.page.locator("#online-list")
            expect(online).to_have_text("Online: alice (you)")
            bob = ChatPage.open(browser, server.url, PHONE)
            bob.register("bob")
            expect(online).to_have_text("Online: alice (you), bob")
            # bob heard nobody arrive; alice typing tells him she is there.
            alice.box.press_sequentially("a needle <b>in</b> the haystack")
            expect(bob.page.locator("#typing")).to_have_text("alice is typing…")
            expect(bob.page.locator("#online-list")).to_have_text("Online: alice, bob (you)")
            alice.box.press("Enter")
            expect(bob.messages("a needle <b>in</b> the haystack")).to_have_count(1)
            expect(bob.page.locator("#typing")).to_have_text("")
            # Search from bob's page: the message, as text, in its room.
            bob.send("no match in this one")
            bob.page.get_by_label("Search messages").fill("needle haystack")
            bob.page.get_by_label("Search messages").press("Enter")
            results = bob.page.locator("#search-list > li")
            expect(results).to_have_count(1)
            expect(results.locator(".content")).to_have_text("a needle <b>in</b> the haystack")
            expect(results.locator(".where")).to_contain_text("alice in General")
            expect(bob.page.locator("#search-summary")).to_have_text("1 message found.")
            bob.page.get_by_label("Search messages").fill("nothing like it")
            bob.page.get_by_label("Search messages").press("Enter")
            expect(bob.page.locator("#search-summary")).to_have_text(
                "No message has all of these words."
            )
            bob.page.get_by_label("Search messages").fill("needle")
            bob.page.get_by_label("Only this room").check()
            bob.page.get_by_role("button", name="Search", exact=True).click()
            expect(results).to_have_count(1)
            results.get_by_role("button", name="Show").click()
            expect(bob.messages("a needle <b>in</b> the haystack")).to_have_class(
                re.compile(r"\bhighlight\b")
            )
            bob.page.get_by_role("button", name="Close search").click()
            expect(bob.page.locator("#search-results")).to_be_hidden()
            # bob leaves: his page closes, and alice's list says so.
            bob.page.context.close()
            expect(online).to_have_text("Online: alice (you)")
            self.assertEqual(alice.errors, [])

        await in_browser(scenario)
