"""The chat page when a host application mounts the service under a prefix of its own Site.

Every URL the page uses is relative, so at ``/chat/`` it loads its assets,
calls the API and opens its WebSocket under ``/chat/``, and the host's own
pages stay the host's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import TestCase

from tests.browser_support import DESKTOP, SKIP, ChatPage, in_browser, live_chat

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
            requests: list[str] = []
            tab.page.on("request", lambda request: requests.append(request.url))
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
