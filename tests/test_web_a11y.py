"""The chat page is accessible: axe-core finds nothing serious, at desktop and phone width.

axe-core comes from a package (``axe-playwright-python`` ships ``axe.min.js``),
never a CDN, and is evaluated in the page through the DevTools protocol, so
the page's own Content-Security-Policy stays on while it runs.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    SKIP,
    ChatPage,
    in_browser,
    live_chat,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Impacts axe ranks as minor, moderate, serious, critical.
BLOCKING = ("serious", "critical")


def axe_source() -> str | None:
    """axe.min.js from its package, or None when the package is missing."""
    try:
        return (resources.files("axe_playwright_python") / "axe.min.js").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return None


AXE = axe_source()


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (every rule axe runs by default)."""
    assert AXE is not None
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE)
    found: list[dict[str, Any]] = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
    )
    return found


def summary(found: list[dict[str, Any]]) -> list[str]:
    """One line per violation: rule, impact, and the first elements it names."""
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in found]


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class AccessibilityTests(TestCase):
    """axe-core on each screen, and what a keyboard or a phone needs."""

    skip = SKIP or (None if AXE else "axe-playwright-python (axe.min.js) is missing")

    async def test_no_serious_or_critical_violations(self) -> None:
        """Log-in, chat (with a reply, reactions, the picker and search open): none serious."""
        server = await live_chat(self)

        def scenario(browser: Browser) -> dict[str, list[dict[str, Any]]]:
            found: dict[str, list[dict[str, Any]]] = {}
            for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                tab = ChatPage.open(browser, server.url, viewport)
                expect(tab.page.get_by_label("Username")).to_be_visible()
                found[f"log-in, {width}"] = violations(tab.page)
                tab.register(f"axe_{width}")
                # General is shared: each width has messages of its own.
                original, reply = f"Reply to me ({width})", f"A reply ({width})"
                tab.send(original)
                tab.act_on(original, "Reply")
                tab.send(reply)
                tab.react(original, "👍")
                expect(tab.messages(original).locator(".reactions")).to_be_visible()
                tab.act_on(reply, "React")  # leaves the picker open
                tab.page.get_by_label("Search messages").fill("reply")
                tab.page.get_by_label("Search messages").press("Enter")
                expect(tab.page.locator("#search-list > li")).not_to_have_count(0)
                found[f"chat, {width}"] = violations(tab.page)
                if width == "phone":
                    tab.page.get_by_role("button", name="Rooms", exact=True).click()
                    expect(tab.page.locator("#rooms-panel")).to_be_visible()
                    found["rooms panel, phone"] = violations(tab.page)
            return found

        found = await in_browser(scenario)
        self.assertEqual(len(found), 5)
        for screen, screen_violations in found.items():
            serious = [v for v in screen_violations if v["impact"] in BLOCKING]
            self.assertEqual(summary(serious), [], screen)

    async def test_room_panels_have_no_serious_violations(self) -> None:
        """Members (badges, actions, invite), settings (audit log), an invitation, a notice."""
        server = await live_chat(self, bcrypt_rounds=4)  # quick accounts

        def scenario(browser: Browser) -> dict[str, list[dict[str, Any]]]:
            found: dict[str, list[dict[str, Any]]] = {}
            member = server.api(
                "POST", "api/register", {"username": "axe_member", "password": PASSWORD}
            )
            other = member["token"]
            tab = ChatPage.open(browser, server.url, DESKTOP)
            page = tab.page
            tab.register("axe_owner")
            session = page.evaluate(
                "() => JSON.parse(sessionStorage.getItem('chatservice.session'))"
            )
            token, owner_id = session["token"], session["user"]["id"]
            page.get_by_label("New room").fill("Axe room")
            page.get_by_label("Only people invited (private)").check()
            page.get_by_role("button", name="Create", exact=True).click()
            expect(page.locator("#room-title")).to_have_text("Axe room")
            tab.expect_connected()
            room = page.evaluate("() => Number(sessionStorage.getItem('chatservice.room'))")
            target = {"user_id": member["user"]["id"], "reason": "testing the badges"}
            server.api("POST", f"api/rooms/{room}/invites", target, token)
            server.api("POST", f"api/rooms/{room}/join", None, other)
            server.api("POST", f"api/rooms/{room}/mute", target, token)
            lounge = server.api("POST", "api/rooms", {"name": "Lounge"}, other)["id"]
            elsewhere = {"name": "Elsewhere", "visibility": "private"}
            invited_to = server.api("POST", "api/rooms", elsewhere, other)["id"]
            server.api("POST", f"api/rooms/{invited_to}/invites", {"user_id": owner_id}, other)
            expect(tab.event_lines("You muted axe_member: testing the badges")).to_have_count(1)
            page.get_by_role("button", name="Members", exact=True).click()
            expect(page.get_by_role("button", name="Unmute axe_member")).to_be_visible()
            found["members panel, moderator"] = violations(page)
            page.get_by_role("button", name="Settings", exact=True).click()
            expect(page.locator("#audit-list li")).to_contain_text(["You muted axe_member"])
            found["settings and audit log"] = violations(page)
            # The phone's rooms panel, with the invitation it finds on unfolding.
            page.set_viewport_size(PHONE)  # type: ignore[arg-type]
            for panel in ("Settings", "Members"):  # no sideways scroll at 375 px
                if (
                    page.get_by_role("button", name=panel, exact=True).get_attribute(
                        "aria-expanded"
                    )
                    != "true"
                ):
                    page.get_by_role("button", name=panel, exact=True).click()
                widths = page.evaluate(
                    "() => [document.documentElement.scrollWidth, document.body.scrollWidth]"
                )
                self.assertLessEqual(max(widths), PHONE["width"], panel)
            page.get_by_role("button", name="Rooms", exact=True).click()
            expect(page.get_by_role("button", name="Accept Elsewhere")).to_be_visible()
            found["rooms panel with an invitation, phone"] = violations(page)
            page.get_by_role("button", name="Decline Elsewhere").click()
            expect(page.locator("#invitations")).to_be_hidden()
            # Banned from a room while in it: the page leaves it and says so.
            tab.open_room("Lounge")
            server.api("POST", f"api/rooms/{lounge}/ban", {"user_id": owner_id}, other)
            expect(page.locator("#room-notice")).to_contain_text("You were banned from Lounge.")
            found["a notice, phone"] = violations(page)
            self.assertEqual(tab.errors, [])
            return found

        found = await in_browser(scenario)
        self.assertEqual(len(found), 4)
        for screen, screen_violations in found.items():
            serious = [v for v in screen_violations if v["impact"] in BLOCKING]
            self.assertEqual(summary(serious), [], screen)

    async def test_keyboard_and_phone_layout(self) -> None:
        """Focus starts in the box, Enter sends, Escape cancels; 375 px has no sideways scroll."""
        server = await live_chat(self)

        def scenario(browser: Browser) -> None:
            tab = ChatPage.open(browser, server.url, PHONE)
            page = tab.page
            expect(page.get_by_label("Username")).to_be_focused()
            page.keyboard.type("keys")
            page.keyboard.press("Tab")
            expect(page.get_by_label("Password")).to_be_focused()
            page.keyboard.type("password-1")
            page.get_by_role("button", name="Create account").click()
            tab.expect_connected()
            expect(tab.box).to_be_focused()
            page.keyboard.type("typed, not clicked")
            page.keyboard.press("Shift+Enter")
            page.keyboard.type("second line")
            page.keyboard.press("Enter")
            expect(tab.messages("typed, not clicked").locator(".content")).to_have_text(
                "typed, not clicked\nsecond line"
            )
            tab.act_on("typed, not clicked", "Reply")
            expect(page.locator("#composer-context")).to_be_visible()
            expect(tab.box).to_be_focused()
            page.keyboard.press("Escape")
            expect(page.locator("#composer-context")).to_be_hidden()
            # The rooms panel folds away on a phone, behind a button that says so.
            toggle = page.get_by_role("button", name="Rooms", exact=True)
            expect(toggle).to_have_attribute("aria-expanded", "false")
            expect(page.locator("#rooms-panel")).to_be_hidden()
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            expect(page.locator("#room-list button").first).to_be_focused()
            page.locator("#room-list button").first.click()
            expect(page.locator("#rooms-panel")).to_be_hidden()
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.body.scrollWidth]"
            )
            self.assertLessEqual(max(widths), PHONE["width"])
            box = tab.box.bounding_box()
            assert box is not None
            self.assertLessEqual(box["y"] + box["height"], PHONE["height"])
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)
