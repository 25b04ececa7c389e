"""Real-browser tests: Debian's Chromium, driven by Playwright, against a live ChatService.

The shape, and why:

* The service runs in the test process, on the trial reactor, on a port of
  the test's own (127.0.0.1, chosen by the kernel, kept across restarts,
  with a SQLite file so data outlives a restart). Playwright's sync API
  blocks, so the browser part runs in a thread (``in_browser``) and asks
  the reactor for server actions (a restart) with ``blockingCallFromThread``.
* A browser keeps HTTP connections open, and trial fails a test that
  leaves one behind: ``TrackedPort`` remembers each connection, and
  stopping aborts whatever the browser left and waits until each is gone.
* No browser is downloaded: Playwright launches ``/usr/bin/chromium``
  (``.ci/run`` installs Debian's ``chromium``). Without it, or without the
  ``playwright`` package, the tests skip and say why (``SKIP``).
* Waiting is Playwright's: ``expect(...)`` and ``wait_for_*`` poll the page
  until a condition holds or ``TIMEOUT_MS`` passes; nothing sleeps.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet import reactor as global_reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IListeningPort
from twisted.internet.threads import blockingCallFromThread, deferToThread
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site

from chatservice.config import Config
from chatservice.service import ChatService

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

# The reactor trial runs: the service listens and times on it, as in production.
REACTOR: Any = global_reactor
CHROMIUM = "/usr/bin/chromium"
# How long a page may take to reach a state the test waits for. Generous:
# a reconnection after a restart waits out the page's back-off (≤ 5 s).
TIMEOUT_MS = 20_000
PASSWORD = "password-1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
T = TypeVar("T")


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: python3 dev.py venv installs it"
    return None


SKIP = skip_reason()


def web_config(database: Path, **changes: Any) -> Config:
    """The service's default settings, with the test's SQLite file and no endpoint of its own."""
    return Config.defaults().replace(listen=(), database_url=f"sqlite:///{database}", **changes)


class TrackedPort:
    """A listening port whose connections can all be closed, and waited for, at the end."""

    def __init__(self, site: Site, port: int) -> None:
        self._lost: list[Deferred[None]] = []
        self._transports: list[Any] = []
        build = site.buildProtocol

        def build_tracked(addr: Any) -> Any:
            protocol = build(addr)
            make_connection = protocol.makeConnection

            def connected(transport: Any) -> None:
                self._track(transport)
                make_connection(transport)

            protocol.makeConnection = connected
            return protocol

        site.buildProtocol = build_tracked  # type: ignore[method-assign]
        self._listening = True
        self.port: IListeningPort = REACTOR.listenTCP(port, site, interface="127.0.0.1")

    def _track(self, transport: Any) -> None:
        lost: Deferred[None] = Deferred()
        connection_lost = transport.connectionLost

        def gone(reason: Failure) -> None:
            try:
                connection_lost(reason)
            finally:
                if not lost.called:
                    lost.callback(None)

        # The transport calls self.connectionLost however the connection ends
        # (even after a WebSocket upgrade swaps its protocol).
        transport.connectionLost = gone
        self._transports.append(transport)
        self._lost.append(lost)

    @property
    def number(self) -> int:
        """The TCP port number."""
        address = self.port.getHost()
        assert isinstance(address, IPv4Address)
        return address.port

    async def stop_listening(self) -> None:
        """Accept no more connections (the open ones stay)."""
        if self._listening:
            self._listening = False
            stopped = self.port.stopListening()
            if stopped is not None:
                await stopped

    async def close(self) -> None:
        """Stop listening, abort every connection still open, and wait until all are gone."""
        await self.stop_listening()
        for transport in self._transports:
            if not transport.disconnected:
                transport.abortConnection()
        await gatherResults(self._lost)


class HostPage(Resource):
    """A host application's own page, next to the mounted chat."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"the host's own page"


class LiveChat:
    """A ChatService that a test starts, stops and starts again on one port and one database.

    With ``prefix`` the service is mounted in a host ``Site`` at that path
    (``/chat``), the way an application embeds it, instead of being served
    by its own ``site()``.
    """

    def __init__(self, config: Config, prefix: str = "") -> None:
        self.config = config
        self.prefix = prefix
        self.chat: ChatService | None = None
        self._port: TrackedPort | None = None
        self._number = 0

    @property
    def url(self) -> str:
        """The page's URL (the mount point, with its slash)."""
        return f"http://127.0.0.1:{self._number}{self.prefix}/"

    async def start(self, *, listen: bool = True) -> ChatService:
        """Start a new service on the database; listen unless asked to wait (see ``listen``)."""
        self.chat = ChatService(self.config)
        self.chat.startService()
        await self.chat.ready
        if listen:
            self.listen()
        return self.chat

    def listen(self) -> None:
        """Open the port: the first time one the kernel picks, then the same one again."""
        assert self.chat is not None and self._port is None
        self._port = TrackedPort(self._site(self.chat), self._number)
        self._number = self._port.number

    def _site(self, chat: ChatService) -> Site:
        if not self.prefix:
            return chat.site()
        root = Resource()
        root.putChild(b"hello", HostPage())
        resource: IResource = chat.resource()
        root.putChild(self.prefix.strip("/").encode(), resource)
        return Site(root)

    async def stop(self) -> None:
        """Stop listening, stop the service (its sockets get 1001), drop what the browser left."""
        if self._port is not None:
            port, self._port = self._port, None
            await port.stop_listening()
            if self.chat is not None and self.chat.running:
                await self.chat.stopService()
            await port.close()
        elif self.chat is not None and self.chat.running:
            await self.chat.stopService()

    def blocking(self, action: Callable[[], Awaitable[T]]) -> T:
        """From the browser's thread: run ``action`` on the reactor and wait for its result."""

        def start() -> Deferred[T]:
            async def run() -> T:
                return await action()

            return Deferred.fromCoroutine(run())

        result: T = blockingCallFromThread(REACTOR, cast(Callable[[], Any], start))
        return result

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """From the browser's thread: one JSON request to the live service (a bot, a script)."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_MS / 1000) as answer:
            return json.loads(answer.read())


async def live_chat(test: TestCase, prefix: str = "", **settings: Any) -> LiveChat:
    """A started ``LiveChat`` on a SQLite file of the test's own, stopped when the test ends."""
    folder = Path(test.mktemp())
    folder.mkdir(parents=True)
    server = LiveChat(web_config(folder / "chat.sqlite3", **settings), prefix)
    test.addCleanup(server.stop)
    await server.start()
    return server


async def in_browser(scenario: Callable[[Browser], T]) -> T:
    """Run ``scenario`` with a fresh headless Chromium, in a thread; return what it returns."""

    def run() -> T:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=TIMEOUT_MS)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                return scenario(browser)
            finally:
                browser.close()

    result: T = await deferToThread(run)
    return result


@dataclass
class ChatPage:
    """One person's tab: a browser context of its own (own sessionStorage), and what it logged."""

    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, url: str, viewport: dict[str, int] = DESKTOP) -> ChatPage:
        """A new context and page at ``url``, recording console messages, errors and dialogs."""
        context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        tab = cls(context.new_page())
        tab.page.on("console", tab._console)
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.page.on("dialog", tab._dialog)
        tab.page.goto(url)
        return tab

    def record_requests(self) -> list[str]:
        """The URL of every request the page makes from now on, appended as it is made."""
        requests: list[str] = []
        self.page.on("request", lambda request: requests.append(request.url))
        return requests

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def register(self, username: str) -> None:
        """Create an account from the log-in screen and wait for the room to connect."""
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Create account").click()
        self.expect_connected()

    def expect_connected(self) -> None:
        """Wait until the page says it is connected."""
        from playwright.sync_api import expect

        expect(self.page.get_by_role("status")).to_have_text("Connected")

    @property
    def box(self) -> Any:
        """The message box (its label names the room)."""
        return self.page.locator("#composer-input")

    def send(self, text: str) -> None:
        """Type ``text`` and press Enter."""
        self.box.fill(text)
        self.box.press("Enter")

    def messages(self, text: str | None = None) -> Any:
        """The room's confirmed messages, or those whose own text (not a quote) has ``text``.

        Member-event lines ("bob joined") share the list; they are not messages.
        """
        items = self.page.locator("#messages > li.message")
        if text is None:
            return items
        return items.filter(has=self.page.locator(".content", has_text=text))

    def open_room(self, name: str) -> None:
        """Choose a room in the rooms panel (unfolding it first on a phone)."""
        toggle = self.page.get_by_role("button", name="Rooms", exact=True)
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
            toggle.click()
        self.room_button(name).click()
        from playwright.sync_api import expect

        expect(self.page.locator("#room-title")).to_have_text(name)
        self.expect_connected()

    def room_button(self, name: str) -> Any:
        """A room's button in the rooms list: its name, its kind ("(private room)"), its counts."""
        pattern = re.compile(f"^{re.escape(name)}( \\(.*\\))?(, .*)?$")
        return self.page.locator("#room-list").get_by_role("button", name=pattern)

    def event_lines(self, text: str | None = None) -> Any:
        """The member-event lines of the room ("bob joined"), or those that have ``text``."""
        lines = self.page.locator("#messages > li.member-event")
        return lines if text is None else lines.filter(has_text=text)

    def act_on(self, text: str, action: str) -> None:
        """Click one action (Reply, React, Edit, Delete) of the message whose text has ``text``."""
        item = self.messages(text)
        item.hover()  # on a desktop the actions show on hover (or focus)
        item.get_by_role("button", name=action, exact=True).click()

    def react(self, text: str, emoji: str) -> None:
        """React to the message whose text has ``text`` with one of the picker's emoji."""
        self.act_on(text, "React")
        picker = self.messages(text).get_by_role("group", name="Pick a reaction")
        picker.get_by_role("button", name=emoji, exact=True).click()
