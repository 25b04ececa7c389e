"""The chat page in a real Chromium: two people chat through a server restart, safely.

The main scenario is one test, because each step needs the state the last
one left (a room, messages, a reaction) and a browser start costs a second:
alice (desktop) and bob (phone width) register, meet in a new room, send
both ways, reply, edit, react and delete; the server stops while alice
sends one more message, and a third user posts through the restarted
service before it listens again; both pages reconnect by themselves and
show every message exactly once, in order. HTML in a message shows as its
characters, and the page's Content-Security-Policy refuses inline script,
as the console says. A second test misses more events than a resume
replays, so the page must page them in from ``api/events``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import gatherResults
from twisted.trial.unittest import TestCase

from chatservice.tokens import Identity
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
    from playwright.sync_api import Browser, Route

PAYLOAD = "<img src=x onerror=alert(1)>"
DURING_RESTART = "Posted by carol while the pages were away"
SENT_WHILE_DOWN = "Sent while the server was down"
# More than the 500 events a resume replays (docs/protocol.md, "Resume").
MISSED = 520
# The page's history page size (chatservice/web/static/js/room.js).
PAGE = 50
LOBBY = [
    "Hello Bob, edited",
    "This message was deleted.",
    "Replying to you",
    PAYLOAD,
    DURING_RESTART,
    SENT_WHILE_DOWN,
    "Back after the restart",
    "Last word from alice",
]


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class ChatPageTests(TestCase):
    """Two browser contexts chat in one room, through a restart of the server."""

    skip = SKIP

    async def test_a_long_absence_is_paged_from_the_events(self) -> None:
        """Past 500 missed events the resume says recovered:false; the page pages them in, once."""
        # Default settings but the message rate: one bot posts the whole gap.
        self.server = server = await live_chat(self, message_rate=100000.0, message_burst=100000)

        def scenario(browser: Browser) -> None:
            robot = server.api("POST", "api/register", {"username": "robot", "password": PASSWORD})
            tab = ChatPage.open(browser, server.url, DESKTOP)
            frames: list[str] = []
            tab.page.on(
                "websocket",
                lambda socket: socket.on(
                    "framereceived", lambda payload: frames.append(str(payload))
                ),
            )
            tab.register("reader")
            tab.send("Before the gap")
            expect(tab.messages("Before the gap")).to_have_count(1)
            server.blocking(server.stop)
            expect(tab.page.get_by_role("status")).not_to_have_text("Connected")

            async def restart() -> None:
                chat = await server.start(listen=False)
                identity: Identity = await chat.accounts.authenticate(robot["token"])
                posts = [chat.messages.post(identity, 1, f"missed {n}") for n in range(MISSED)]
                await gatherResults(posts)
                server.listen()

            server.blocking(restart)
            tab.expect_connected()
            expect(tab.messages()).to_have_count(1 + MISSED)
            tab.send("After the gap")
            expect(tab.messages("After the gap")).to_have_count(1)
            expect(tab.messages()).to_have_count(1 + MISSED + 1)
            recoveries = [json.loads(f) for f in frames if '"recovery"' in f]
            self.assertEqual([r["recovered"] for r in recoveries], [True, False])
            # A reload keeps the tab's session and shows the newest page;
            # "load older" adds the page before it, above.
            tab.page.reload()
            tab.expect_connected()
            expect(tab.messages()).to_have_count(PAGE)
            expect(tab.messages().last).to_contain_text("After the gap")
            tab.page.get_by_role("button", name="Load older messages").click()
            expect(tab.messages()).to_have_count(2 * PAGE)
            expect(tab.messages().last).to_contain_text("After the gap")
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)

    async def test_a_rename_an_archive_and_a_kick_reach_the_pages(self) -> None:
        """Member events rename the room and make it read-only; a kicked page leaves it (4003)."""
        self.server = server = await live_chat(self)

        def scenario(browser: Browser) -> None:
            owner = ChatPage.open(browser, server.url, DESKTOP)
            owner.register("owner")
            owner.page.get_by_label("New room").fill("Plans")
            owner.page.get_by_role("button", name="Create").click()
            owner.expect_connected()
            guest = ChatPage.open(browser, server.url, PHONE)
            guest.register("guest")
            guest.open_room("Plans")
            token = owner.page.evaluate(
                "() => JSON.parse(sessionStorage.getItem('chatservice.session')).token"
            )
            room = owner.page.evaluate("() => Number(sessionStorage.getItem('chatservice.room'))")
            guest_id = guest.page.evaluate(
                "() => JSON.parse(sessionStorage.getItem('chatservice.session')).user.id"
            )
            server.api("PATCH", f"api/rooms/{room}", {"name": "Plans 2"}, token)
            for tab in (owner, guest):
                expect(tab.page.locator("#room-title")).to_have_text("Plans 2")
            server.api("POST", f"api/rooms/{room}/kick", {"user_id": guest_id}, token)
            expect(guest.page.locator("#room-title")).to_have_text("General")
            expect(guest.page.locator("#room-notice")).to_contain_text(
                "You were removed from Plans 2."
            )
            guest.expect_connected()
            server.api("PATCH", f"api/rooms/{room}", {"archived": True}, token)
            expect(owner.box).to_be_disabled()
            self.assertEqual(owner.errors + guest.errors, [])

        await in_browser(scenario)

    async def test_two_people_chat_through_a_restart(self) -> None:
        """Both ways, reply, edit, react, delete; a restart; every message once; HTML as text."""
        # Default settings; a SQLite file, so the restart keeps every message.
        self.server = await live_chat(self)
        await in_browser(self.scenario)

    def scenario(self, browser: Browser) -> None:
        server = self.server
        carol = server.api("POST", "api/register", {"username": "carol", "password": PASSWORD})
        alice = ChatPage.open(browser, server.url, DESKTOP)
        sockets: list[str] = []
        alice.page.on("websocket", lambda socket: sockets.append(socket.url))
        alice.register("alice")
        bob = ChatPage.open(browser, server.url, PHONE)
        bob.register("bob")

        # alice opens a room, bob finds it in his (folded) rooms panel.
        alice.page.get_by_label("New room").fill("Lobby")
        alice.page.get_by_role("button", name="Create").click()
        expect(alice.page.locator("#room-title")).to_have_text("Lobby")
        alice.expect_connected()
        bob.open_room("Lobby")

        alice.send("Hello Bob")
        expect(bob.messages("Hello Bob")).to_have_count(1)
        bob.send("Hi Alice")
        expect(alice.messages("Hi Alice")).to_have_count(1)

        bob.act_on("Hello Bob", "Reply")
        bob.send("Replying to you")
        expect(alice.messages("Replying to you").locator(".reply-preview")).to_contain_text(
            "Hello Bob"
        )

        alice.act_on("Hello Bob", "Edit")
        expect(alice.box).to_have_value("Hello Bob")
        alice.send("Hello Bob, edited")
        expect(bob.messages("Hello Bob, edited")).to_contain_text("(edited)")

        bob.react("Hello Bob, edited", "🎉")
        reaction = alice.messages("Hello Bob, edited").locator(".reactions button")
        expect(reaction).to_have_text("🎉 1")
        expect(reaction).to_have_attribute("aria-pressed", "false")
        expect(bob.messages("Hello Bob, edited").locator(".reactions button")).to_have_attribute(
            "aria-pressed", "true"
        )

        bob.act_on("Hi Alice", "Delete")
        bob.messages("Hi Alice").locator('[data-action="confirm-delete"]').click()
        expect(alice.messages("This message was deleted.")).to_have_count(1)
        expect(alice.messages("Hi Alice")).to_have_count(0)

        alice.send(PAYLOAD)
        shown = bob.messages(PAYLOAD).locator(".content")
        expect(shown).to_have_text(PAYLOAD)
        self.assertEqual(bob.page.locator("#messages img").count(), 0)

        # --- the server goes away; alice writes meanwhile; carol posts before it listens ---
        server.blocking(server.stop)
        for tab in (alice, bob):
            expect(tab.page.get_by_role("status")).not_to_have_text("Connected")
        alice.send(SENT_WHILE_DOWN)
        expect(alice.page.locator("#pending")).to_contain_text("Waiting for the connection")
        lobby: int = alice.page.evaluate(
            "() => Number(sessionStorage.getItem('chatservice.room'))"
        )

        async def restart() -> None:
            chat = await server.start(listen=False)
            identity: Identity = await chat.accounts.authenticate(carol["token"])
            await chat.messages.post(identity, lobby, DURING_RESTART)
            server.listen()

        server.blocking(restart)
        alice.expect_connected()
        bob.expect_connected()
        expect(bob.messages(SENT_WHILE_DOWN)).to_have_count(1)
        # A message each way after the resume: a page that shows it has
        # already handled everything its socket replayed before it.
        bob.send("Back after the restart")
        expect(alice.messages("Back after the restart")).to_have_count(1)
        alice.send("Last word from alice")
        expect(bob.messages("Last word from alice")).to_have_count(1)
        for tab in (alice, bob):
            expect(tab.page.locator("#pending > li")).to_have_count(0)
            expect(tab.messages()).to_have_count(len(LOBBY))
            for text in LOBBY:
                expect(tab.messages(text)).to_have_count(1)
            ids = tab.page.eval_on_selector_all(
                "#messages > li", "items => items.map(item => Number(item.dataset.id))"
            )
            self.assertEqual(ids, sorted(ids))

        # Nothing ran from the payload, nothing was blocked by the policy, no error.
        self.assertEqual(alice.dialogs + bob.dialogs, [])
        self.assertEqual(alice.errors + bob.errors, [])
        for tab in (alice, bob):
            self.assertEqual([line for line in tab.console if "Content Security" in line], [])
        # The token stays out of URLs: the sockets carry a ticket, and resume.
        self.assertNotIn("token", alice.page.url)
        self.assertGreaterEqual(len(sockets), 3)  # General, Lobby, Lobby after the restart
        for url in sockets:
            self.assertIn("ticket=", url)
            self.assertIn("since=", url)
            self.assertNotIn("token=", url)

        self.check_policy_blocks_inline_script(browser, alice)

    def check_policy_blocks_inline_script(self, browser: Browser, alice: ChatPage) -> None:
        """An inline script in the page, or one injected into the DOM, does not run."""
        url = self.server.url

        def inject(route: Route) -> None:
            # The server's own answer (its headers, CSP included), with
            # markup an attacker might have slipped into the page.
            response = route.fetch()
            body = response.text().replace(
                "<body>", "<body><script>window.injected = true</script>", 1
            )
            route.fulfill(response=response, body=body)

        tab = ChatPage.open(browser, "about:blank")
        tab.page.route(url, inject)
        answer = tab.page.goto(url)
        assert answer is not None
        expect(tab.page.get_by_label("Username")).to_be_visible()  # the real script ran
        self.assertIsNone(tab.page.evaluate("() => window.injected"))
        refused = [line for line in tab.console if "Content Security Policy" in line]
        self.assertEqual(len(refused), 1, tab.console)
        self.assertIn("script-src 'self'", refused[0])

        outcome = alice.page.evaluate(
            """() => {
                const script = document.createElement("script");
                try { script.textContent = "window.injected = true"; } catch (error) {
                    return error.message;
                }
                document.body.append(script);
                return "appended";
            }"""
        )
        self.assertIn("TrustedScript", outcome)
        self.assertIsNone(alice.page.evaluate("() => window.injected"))
        self.assertTrue(any("TrustedScript" in line for line in alice.console), alice.console)
