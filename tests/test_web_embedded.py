"""The chat page when a host application mounts the service under a prefix of its own Site.

Every URL the page uses is relative, so at ``/chat/`` it loads its assets,
calls the API and opens its WebSocket under ``/chat/``, and the host's own
pages stay the host's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import DESKTOP, SKIP, ChatPage, in_browser, live_chat
from tests.test_web_admin import grant_admin

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertion (imported late: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class MountedPageTests(TestCase):
    """The page served at /chat/ of a host Site, with the service's default settings."""

    skip = SKIP

    async def test_page_works_under_a_prefix(self) -> None:
        """/chat redirects to /chat/; log in, chat, reload: every request stays under /chat/."""
        server = await live_chat(self, prefix="/chat")

        def scenario(browser: Browser) -> None:
            tab = ChatPage.open(browser, server.url.rstrip("/"), DESKTOP)
            requests = tab.record_requests()
            sockets: list[str] = []
            tab.page.on("websocket", lambda socket: sockets.append(socket.url))
            self.assertEqual(tab.page.url, server.url)
            tab.register("embedded")
            tab.send("Hello from under the prefix")
            expect(tab.messages("Hello from under the prefix")).to_have_count(1)
            # A reload keeps the tab's session (sessionStorage) and the room's history.
            tab.page.reload()
            tab.expect_connected()
            expect(tab.messages("Hello from under the prefix")).to_have_count(1)
            for url in requests:
                self.assertTrue(url.startswith(server.url), url)
            self.assertEqual(len(sockets), 2)
            for url in sockets:
                self.assertTrue(url.startswith(server.url.replace("http:", "ws:") + "ws?"), url)
            host = tab.page.goto(server.url.replace("/chat/", "/hello"))
            assert host is not None
            self.assertEqual(host.text(), "the host's own page")
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)

    async def test_admin_panel_works_under_a_prefix(self) -> None:
        """From the chat at /chat/ to its admin panel at /chat/admin and back, same session."""
        server = await live_chat(self, prefix="/chat", bcrypt_rounds=4)

        def scenario(browser: Browser) -> None:
            tab = ChatPage.open(browser, server.url, DESKTOP)
            requests = tab.record_requests()
            tab.register("embedded_admin")
            grant_admin(server, "embedded_admin")
            tab.page.get_by_role("link", name="Admin panel").click()
            self.assertEqual(tab.page.url, server.url + "admin")
            expect(tab.page.locator("#admin-role")).to_have_text("server admin")
            expect(tab.page.locator("#users-list tr")).to_have_count(1)
            tab.page.get_by_role("button", name="Rooms").click()
            tab.page.get_by_role("button", name="Manage General").click()
            expect(tab.page.locator("#room-members tr")).to_have_count(1)
            tab.page.get_by_role("button", name="Audit log").click()
            expect(tab.page.locator("#audit-status")).to_have_text("Nothing recorded yet.")
            tab.page.get_by_role("link", name="Back to the chat").click()
            tab.expect_connected()
            self.assertEqual(tab.page.url, server.url)
            self.assertIn(server.url + "api/admin/rooms/1/members", requests)
            for url in requests:
                self.assertTrue(url.startswith(server.url), url)
            self.assertEqual(tab.errors, [])

        await in_browser(scenario)
