"""The page's rooms, members and moderation screens in a real Chromium (issue 11's API).

Two scenarios, each one test because each step needs the state the last
one left:

* moderation: an owner (desktop) meets a guest (phone) in General, creates
  a private room, invites the guest by picking them from the people the
  page has met; the guest accepts the invitation from the rooms panel;
  they chat; the owner mutes the guest with a reason written in HTML (the
  line shows it as text), the guest's composer says so and a post is
  refused in the server's words; the owner reads the audit log, kicks the
  guest, whose page leaves the room with a notice and does not reconnect
  to it; invited again (by user id) and banned while the server is away,
  the guest's page finds its handshake refused, learns why from the API,
  says so and stops trying; the owner unbans the guest and archives the
  room, which turns its composer off;
* direct messages: from another's message ("Message privately") and from
  the members panel, which open the same direct room, marked as such.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from chatservice.tokens import Identity
from tests.browser_support import DESKTOP, PHONE, SKIP, ChatPage, in_browser, live_chat

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REASON = "<b>quiet</b> please"
# docs/protocol.md: what the server answers a muted member's post.
MUTED_REFUSAL = "You are muted in this room: you may read but not post."


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def room_id_of(tab: ChatPage) -> int:
    """The id of the room the tab has open (kept in its sessionStorage)."""
    value: int = tab.page.evaluate("() => Number(sessionStorage.getItem('chatservice.room'))")
    return value


def sockets_in(urls: list[str], room: int) -> list[str]:
    """The WebSocket URLs (opened or tried) of one room."""
    return [url for url in urls if re.search(f"[?&]roomId={room}&", url)]


def create_room(tab: ChatPage, name: str, *, private: bool = False) -> None:
    """Create a room from the rooms panel and wait until it is open and connected."""
    tab.page.get_by_label("New room").fill(name)
    if private:
        tab.page.get_by_label("Only people invited (private)").check()
    tab.page.get_by_role("button", name="Create", exact=True).click()
    expect(tab.page.locator("#room-title")).to_have_text(name)
    tab.expect_connected()


class RoomScreensTests(TestCase):
    """Private rooms, invitations, moderation and direct messages, as people use them."""

    skip = SKIP

    async def test_moderation_in_a_private_room(self) -> None:
        """Invite by picking, accept, chat, mute (composer and refusal), audit, kick, archive."""
        server = await live_chat(self, bcrypt_rounds=4)  # quick accounts: not what is tested

        def scenario(browser: Browser) -> None:
            owner = ChatPage.open(browser, server.url, DESKTOP)
            owner.register("owner")
            guest = ChatPage.open(browser, server.url, PHONE)
            sockets: list[str] = []
            guest.page.on("websocket", lambda socket: sockets.append(socket.url))
            guest.register("guest")
            # The owner's page meets the guest in General.
            guest.send("Hello from the guest")
            expect(owner.messages("Hello from the guest")).to_have_count(1)
            expect(owner.event_lines("guest joined")).to_have_count(1)

            create_room(owner, "Secret", private=True)
            secret = room_id_of(owner)
            expect(owner.page.locator("#room-kinds")).to_have_text("Private room")
            expect(owner.room_button("Secret")).to_have_accessible_name("Secret (private room)")

            # Invite the guest by picking them among the people met.
            page = owner.page
            page.get_by_role("button", name="Members", exact=True).click()
            members = page.locator("#member-list")
            expect(members.locator("li")).to_have_count(1)
            page.get_by_label("Someone you have met here").select_option(label="guest")
            page.get_by_role("button", name="Invite", exact=True).click()
            expect(page.locator("#invite-done")).to_have_text("guest is invited.")
            expect(members.locator("li", has_text="guest")).to_contain_text("invited")

            # The guest's rooms panel shows the invitation; accepting opens the room.
            guest.page.get_by_role("button", name="Rooms", exact=True).click()
            guest.page.get_by_role("button", name="Accept Secret").click()
            expect(guest.page.locator("#room-title")).to_have_text("Secret")
            guest.expect_connected()
            expect(owner.event_lines("guest joined")).to_have_count(1)
            expect(owner.event_lines("You invited guest")).to_have_count(1)
            guest.send("Thanks for the invitation")
            expect(owner.messages("Thanks for the invitation")).to_have_count(1)
            expect(members.locator("li", has_text="guest")).not_to_contain_text("invited")

            # A mute, with a reason in HTML: shown as text; the composer says so.
            page.get_by_label("Reason for your next action").fill(REASON)
            members.get_by_role("button", name="Mute guest").click()
            expect(guest.event_lines()).to_contain_text([f"owner muted you: {REASON}"])
            expect(owner.event_lines(f"You muted guest: {REASON}")).to_have_count(1)
            expect(guest.page.locator("#composer-state")).to_have_text(
                "You are muted in this room: you can read it, but not post."
            )
            expect(members.locator("li", has_text="guest")).to_contain_text("muted")
            guest.send("Can I still talk?")
            expect(guest.page.locator("#composer-error")).to_have_text(MUTED_REFUSAL)
            expect(guest.box).to_have_value("Can I still talk?")
            for tab in (owner, guest):
                self.assertEqual(tab.page.locator("#messages b").count(), 0)

            # The audit log, for the owner.
            page.get_by_role("button", name="Settings", exact=True).click()
            expect(page.locator("#members-panel")).to_be_hidden()
            expect(page.locator("#audit-list li")).to_contain_text([f"You muted guest: {REASON}"])

            # A kick: the guest's page leaves the room, says so, and stays out.
            page.get_by_role("button", name="Members", exact=True).click()
            members.get_by_role("button", name="Kick guest").click()
            expect(guest.page.locator("#room-title")).to_have_text("General")
            expect(guest.page.locator("#room-notice")).to_contain_text(
                "You were removed from Secret."
            )
            guest.expect_connected()
            expect(owner.event_lines("You kicked guest")).to_have_count(1)
            expect(guest.room_button("Secret")).to_have_count(0)
            self.assertEqual(len(sockets_in(sockets, secret)), 1, sockets)

            # Invited again, by user id this time; banned while the guest's page is
            # away: its handshake is refused, it asks the API why, and stops trying.
            guest_id = guest.page.evaluate(
                "() => JSON.parse(sessionStorage.getItem('chatservice.session')).user.id"
            )
            page.get_by_label("or their user id").fill(str(guest_id))
            page.get_by_role("button", name="Invite", exact=True).click()
            expect(members.locator("li", has_text="guest")).to_contain_text("invited")
            guest.page.get_by_role("button", name="Rooms", exact=True).click()
            guest.page.get_by_role("button", name="Accept Secret").click()
            expect(guest.page.locator("#room-title")).to_have_text("Secret")
            guest.expect_connected()
            server.blocking(server.stop)
            expect(guest.page.get_by_role("status")).not_to_have_text("Connected")
            token = owner.page.evaluate(
                "() => JSON.parse(sessionStorage.getItem('chatservice.session')).token"
            )

            async def ban_while_away() -> None:
                chat = await server.start(listen=False)
                identity: Identity = await chat.accounts.authenticate(token)
                await chat.moderation.ban(identity, secret, guest_id, "")
                server.listen()

            server.blocking(ban_while_away)
            expect(guest.page.locator("#room-notice")).to_contain_text(
                "You can't open Secret. You were removed or banned"
            )
            expect(guest.page.locator("#room-title")).to_have_text("General")
            guest.expect_connected()
            tries = len(sockets_in(sockets, secret))
            guest.send("Back in General")
            expect(guest.messages("Back in General")).to_have_count(1)
            owner.expect_connected()
            expect(members.locator("li", has_text="guest")).to_contain_text("banned")
            members.get_by_role("button", name="Unban guest").click()
            expect(owner.event_lines("You unbanned guest")).to_have_count(1)
            self.assertEqual(len(sockets_in(sockets, secret)), tries, sockets)

            # Archiving makes the room read-only, on the page too.
            page.get_by_role("button", name="Settings", exact=True).click()
            page.get_by_role("button", name="Archive this room").click()
            expect(owner.box).to_be_disabled()
            expect(page.locator("#composer-state")).to_have_text(
                "This room is archived: it is read-only."
            )
            expect(owner.event_lines("You archived the room")).to_have_count(1)
            expect(page.locator("#room-kinds")).to_contain_text("Archived")
            expect(page.get_by_role("button", name="Unarchive this room")).to_be_visible()
            self.assertEqual(owner.errors + guest.errors, [])
            self.assertEqual(owner.dialogs + guest.dialogs, [])

        await in_browser(scenario)

    async def test_direct_messages(self) -> None:
        """From a message and from the members panel: the same direct room, for both."""
        server = await live_chat(self, bcrypt_rounds=4)  # quick accounts: not what is tested

        def scenario(browser: Browser) -> None:
            alice = ChatPage.open(browser, server.url, DESKTOP)
            alice.register("alice")
            bob = ChatPage.open(browser, server.url, DESKTOP)
            bob.register("bob")
            bob.send("Anyone around?")
            alice.act_on("Anyone around?", "Message privately")
            expect(alice.page.locator("#room-title")).to_have_text("alice & bob")
            alice.expect_connected()
            expect(alice.page.locator("#room-kinds")).to_have_text("Direct message")
            expect(alice.room_button("alice & bob")).to_have_accessible_name(
                "alice & bob (direct message)"
            )
            alice.send("Just between us")
            # bob, from General's members panel: the same room.
            bob.page.get_by_role("button", name="Members", exact=True).click()
            bob.page.locator("#member-list").get_by_role(
                "button", name="Message privately alice"
            ).click()
            expect(bob.page.locator("#room-title")).to_have_text("alice & bob")
            expect(bob.messages("Just between us")).to_have_count(1)
            self.assertEqual(room_id_of(alice), room_id_of(bob))
            bob.send("Sure")
            expect(alice.messages("Sure")).to_have_count(1)
            # No "Message privately" inside a direct room.
            alice.messages("Sure").hover()
            expect(alice.messages("Sure").get_by_role("button", name="Reply")).to_be_visible()
            expect(
                alice.messages("Sure").get_by_role("button", name="Message privately")
            ).to_have_count(0)
            self.assertEqual(alice.errors + bob.errors, [])

        await in_browser(scenario)
