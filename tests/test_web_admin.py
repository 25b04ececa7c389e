"""The admin panel (``/admin``) in a real Chromium: users, rooms, roles and the audit log.

Three scenarios, each one test because each step needs the state the last
one left:

* a server admin disables a user whose chat page is open in another
  browser context: that page drops to its log-in screen at once (its
  socket is closed with 4002, and it asks for no new ticket), and says
  why; a new log-in is refused the same way until the admin enables the
  account again; the audit log says who did what, with the reason;
* a server admin finds a private room they are not in, reads its members
  and roles, archives it, deletes another room (after confirming in the
  page), and reads both actions in the room's log and the whole log;
* a room owner (no admin right) sees only the rooms they own, names a
  moderator, archives their room, and has no users, log or delete.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    SKIP,
    ChatPage,
    LiveChat,
    in_browser,
    live_chat,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DISABLED = "A server admin disabled your account."


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def grant_admin(server: LiveChat, username: str) -> None:
    """Give ``username`` the admin right, as ``python -m chatservice.admin grant`` does."""
    assert server.chat is not None
    store = server.chat.store
    server.blocking(lambda: store.set_admin(username, True))


def register(server: LiveChat, username: str) -> tuple[str, int]:
    """An account made through the API: its token and id."""
    body = {"username": username, "password": PASSWORD}
    session = server.api("POST", "api/register", body)
    return session["token"], session["user"]["id"]


def open_admin(browser: Browser, server: LiveChat, username: str, viewport: Any = DESKTOP) -> Any:
    """A new context at the admin panel, logged in as ``username``; returns its ChatPage."""
    tab = ChatPage.open(browser, server.url + "admin", viewport)
    tab.page.get_by_label("Username").fill(username)
    tab.page.get_by_label("Password").fill(PASSWORD)
    tab.page.get_by_role("button", name="Log in").click()
    expect(tab.page.locator("#admin-view")).to_be_visible()
    return tab


def user_row(tab: ChatPage, username: str) -> Any:
    """The users table's row of ``username``."""
    return tab.page.locator("#users-list tr").filter(
        has=tab.page.locator(".cell-name", has_text=username)
    )


def room_row(tab: ChatPage, name: str) -> Any:
    """The rooms table's row of the room ``name``."""
    return tab.page.locator("#rooms-list tr").filter(has=tab.page.get_by_text(name, exact=True))


class AdminPanelTests(TestCase):
    """The panel as a server admin and as a room owner use it."""

    skip = SKIP

    async def test_disabling_a_user_drops_their_open_page_to_the_login_screen(self) -> None:
        """Disable: bob's page logs out at once (4002, no retry); enable: he logs in again."""
        server = await live_chat(self, bcrypt_rounds=4)  # quick accounts: not what is tested

        def scenario(browser: Browser) -> None:
            bob = ChatPage.open(browser, server.url, PHONE)
            requests = bob.record_requests()
            bob.register("bob")
            bob.send("hello before")
            expect(bob.messages("hello before")).to_have_count(1)
            register(server, "alice")
            grant_admin(server, "alice")
            alice = open_admin(browser, server, "alice")
            expect(alice.page.locator("#admin-role")).to_have_text("server admin")
            expect(alice.page.get_by_role("button", name="Users")).to_have_attribute(
                "aria-pressed", "true"
            )
            expect(user_row(alice, "alice")).to_contain_text("You")
            alice.page.get_by_label("Search users by name").fill("BO")
            alice.page.get_by_role("button", name="Search", exact=True).click()
            expect(alice.page.locator("#users-list tr")).to_have_count(1)
            alice.page.get_by_label("Reason for your next action").fill("<i>spam</i>")
            asked = len([url for url in requests if "ws-ticket" in url])
            alice.page.get_by_role("button", name="Disable bob").click()
            expect(user_row(alice, "bob")).to_contain_text("disabled")
            expect(alice.page.locator("#users-status")).to_have_text("bob is disabled.")
            # bob's page: back to the log-in screen, saying why, without trying again.
            expect(bob.page.locator("#login-view")).to_be_visible()
            expect(bob.page.locator("#chat-view")).to_be_hidden()
            expect(bob.page.locator("#login-error")).to_have_text(DISABLED)
            self.assertEqual(len([url for url in requests if "ws-ticket" in url]), asked)
            self.assertIsNone(
                bob.page.evaluate("() => sessionStorage.getItem('chatservice.session')")
            )
            bob.page.get_by_label("Username").fill("bob")
            bob.page.get_by_label("Password").fill(PASSWORD)
            bob.page.get_by_role("button", name="Log in").click()
            expect(bob.page.locator("#login-error")).to_have_text(DISABLED)
            # Enabled again: bob logs in and finds his room as he left it.
            alice.page.get_by_role("button", name="Enable bob").click()
            expect(user_row(alice, "bob")).to_contain_text("active")
            bob.page.get_by_role("button", name="Log in").click()
            bob.expect_connected()
            expect(bob.messages("hello before")).to_have_count(1)
            # The whole log: both actions, the reason shown as text.
            alice.page.get_by_role("button", name="Audit log").click()
            log = alice.page.locator("#audit-list li")
            expect(log).to_have_count(2)
            expect(log.nth(0)).to_contain_text("You enabled bob")
            expect(log.nth(1)).to_contain_text("You disabled bob: <i>spam</i>")
            for tab in (alice, bob):
                self.assertEqual(tab.errors, [])
                self.assertEqual(tab.dialogs, [])

        await in_browser(scenario)

    async def test_a_server_admin_manages_any_room(self) -> None:
        """A private room the admin is not in: members and roles, archive; delete another."""
        server = await live_chat(self, bcrypt_rounds=4)

        def scenario(browser: Browser) -> None:
            register(server, "alice")
            grant_admin(server, "alice")
            bob, _ = register(server, "bob")
            _, carol_id = register(server, "carol")
            secret = {"name": "Secret plans", "visibility": "private"}
            secret_id = server.api("POST", "api/rooms", secret, bob)["id"]
            server.api("POST", f"api/rooms/{secret_id}/invites", {"user_id": carol_id}, bob)
            server.api("POST", "api/rooms", {"name": "Old lobby"}, bob)
            alice = open_admin(browser, server, "alice")
            alice.page.get_by_role("button", name="Rooms").click()
            expect(alice.page.locator("#rooms-list tr")).to_have_count(3)
            alice.page.get_by_label("Search rooms by name").fill("secret")
            alice.page.get_by_label("Search rooms by name").press("Enter")
            expect(alice.page.locator("#rooms-list tr")).to_have_count(1)
            expect(room_row(alice, "Secret plans")).to_contain_text("private")
            alice.page.get_by_role("button", name="Manage Secret plans").click()
            detail = alice.page.locator("#room-detail")
            expect(detail.get_by_role("heading", name="Secret plans")).to_be_focused()
            members = alice.page.locator("#room-members tr")
            expect(members).to_have_count(2)
            expect(members.nth(0)).to_contain_text("bob")
            expect(members.nth(0)).to_contain_text("owner")
            expect(members.nth(1)).to_contain_text("carol")
            expect(members.nth(1)).to_contain_text("invited")
            # Not the owner: roles are shown, not changed.
            expect(detail.get_by_role("button", name="Make moderator")).to_have_count(0)
            alice.page.get_by_label("Reason for archiving").fill("project over")
            alice.page.get_by_role("button", name="Archive room").click()
            expect(alice.page.get_by_role("button", name="Unarchive room")).to_be_visible()
            expect(room_row(alice, "Secret plans")).to_contain_text("archived")
            expect(alice.page.locator("#room-audit li")).to_have_text(
                [re.compile("You archived the room: project over")]
            )
            # Delete another room, after saying so twice.
            alice.page.get_by_role("button", name="Close").click()
            expect(detail).to_be_hidden()
            expect(alice.page.get_by_role("button", name="Manage Secret plans")).to_be_focused()
            alice.page.get_by_label("Search rooms by name").fill("")
            alice.page.get_by_role("button", name="Search", exact=True).click()
            expect(alice.page.locator("#rooms-list tr")).to_have_count(3)
            alice.page.get_by_role("button", name="Manage Old lobby").click()
            alice.page.get_by_role("button", name="Delete room").click()
            expect(alice.page.locator("#room-delete-question")).to_contain_text("Old lobby")
            alice.page.get_by_role("button", name="Cancel").click()
            expect(alice.page.locator("#room-delete-confirm")).to_be_hidden()
            alice.page.get_by_role("button", name="Delete room").click()
            alice.page.get_by_role("button", name="Delete for good").click()
            expect(detail).to_be_hidden()
            expect(alice.page.get_by_role("heading", name="Rooms")).to_be_focused()
            expect(room_row(alice, "Old lobby")).to_have_count(0)
            expect(alice.page.locator("#admin-notice")).to_have_text("Old lobby was deleted.")
            rooms = [room["name"] for room in server.api("GET", "api/rooms", token=bob)]
            self.assertEqual(rooms, ["General", "Secret plans"])
            # General cannot be deleted: the server's refusal, next to the buttons.
            alice.page.get_by_role("button", name="Manage General").click()
            alice.page.get_by_role("button", name="Delete room").click()
            alice.page.get_by_role("button", name="Delete for good").click()
            expect(alice.page.locator("#room-error")).to_have_text(
                "The General room cannot be deleted."
            )
            alice.page.get_by_role("button", name="Audit log").click()
            log = alice.page.locator("#audit-list li")
            expect(log).to_have_count(2)
            expect(log.nth(0)).to_contain_text("You deleted the room (in Old lobby)")
            expect(log.nth(1)).to_contain_text("You archived the room: project over (in Secret")
            self.assertEqual(alice.errors, [])

        await in_browser(scenario)

    async def test_a_room_owner_manages_only_their_rooms(self) -> None:
        """No admin right: their own rooms, name a moderator, archive; no users, log, delete."""
        server = await live_chat(self, bcrypt_rounds=4)

        def scenario(browser: Browser) -> None:
            bob, _ = register(server, "bob")
            carol, _ = register(server, "carol")
            lobby = server.api("POST", "api/rooms", {"name": "Bob's lobby"}, bob)["id"]
            server.api("POST", "api/rooms", {"name": "Carol's corner"}, carol)
            server.api("POST", f"api/rooms/{lobby}/join", None, carol)
            tab = open_admin(browser, server, "bob", PHONE)
            expect(tab.page.locator("#admin-role")).to_have_text("room owner")
            expect(tab.page.get_by_role("button", name="Users")).to_be_hidden()
            expect(tab.page.get_by_role("button", name="Audit log")).to_be_hidden()
            expect(tab.page.locator("#rooms-search")).to_be_hidden()
            expect(tab.page.locator("#rooms-list tr")).to_have_count(1)
            tab.page.get_by_role("button", name="Manage Bob's lobby").click()
            expect(tab.page.locator("#room-delete")).to_be_hidden()
            tab.page.get_by_role("button", name="Make moderator: carol").click()
            member = tab.page.locator("#room-members tr").filter(has_text="carol")
            expect(member).to_contain_text("moderator")
            expect(tab.page.get_by_role("button", name="Make member: carol")).to_be_visible()
            tab.page.get_by_role("button", name="Archive room").click()
            expect(room_row(tab, "Bob's lobby")).to_contain_text("archived")
            log = tab.page.locator("#room-audit li")
            expect(log).to_have_count(2)
            expect(log.nth(0)).to_contain_text("You archived the room")
            expect(log.nth(1)).to_contain_text("You changed the role of carol")
            # Back to the chat with the same session: no second log-in.
            tab.page.get_by_role("link", name="Back to the chat").click()
            tab.expect_connected()
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)
