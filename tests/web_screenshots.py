"""Take the README's screenshots of the web client: ``python -m tests.web_screenshots [folder]``.

Starts a service on a temporary SQLite file, fills a room the way people
would (through the API: rooms, a private one and a direct one, a reply, an
edit, reactions, a picture and a file; joining makes the member-event
lines; unread messages and a mention in other rooms make the rooms
list's badges and the mention notice), and saves what
a desktop (1280 x 800) and a phone (375 x 740) show to
``docs/screenshots/chat-desktop.png`` and ``chat-phone.png``; then alice, a
server admin, opens the admin panel on a room (its members and roles, its
webhook and bot, and its log) and it is saved as ``admin-desktop.png``. Needs what the browser
tests need (``/usr/bin/chromium`` and playwright).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from PIL import Image, ImageDraw
from twisted.internet.task import react

from tests.browser_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    SKIP,
    ChatPage,
    LiveChat,
    in_browser,
    web_config,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def seed(server: LiveChat) -> dict[str, str]:
    """A few people, rooms and messages; returns each person's token."""
    tokens, ids = {}, {}
    for name in ("alice", "bob", "carol", "dave"):
        session = server.api("POST", "api/register", {"username": name, "password": PASSWORD})
        tokens[name], ids[name] = session["token"], session["user"]["id"]
    lobby = server.api("POST", "api/rooms", {"name": "Lobby"}, tokens["alice"])["id"]
    # A private room alice was invited to and joined, and a direct one: their icons.
    design = {"name": "Design", "description": "Sketches and reviews", "visibility": "private"}
    design_id = server.api("POST", "api/rooms", design, tokens["bob"])["id"]
    server.api("POST", f"api/rooms/{design_id}/invites", {"user_id": ids["alice"]}, tokens["bob"])
    server.api("POST", f"api/rooms/{design_id}/join", None, tokens["alice"])
    server.api(
        "POST", "api/rooms", {"name": "Random", "description": "Anything goes"}, tokens["bob"]
    )
    direct = server.api("POST", "api/dms", {"user_id": ids["carol"]}, tokens["alice"])["id"]
    unread = {"room_id": design_id, "content": "Two more sketches are up."}
    server.api("POST", "api/messages", unread, tokens["bob"])
    lunch = {"room_id": direct, "content": "Lunch at noon?"}
    server.api("POST", "api/messages", lunch, tokens["carol"])

    def say(
        who: str, text: str, reply_to: int | None = None, attachments: list[int] | None = None
    ) -> Any:
        body: dict[str, Any] = {"room_id": lobby, "content": text, "reply_to": reply_to}
        if attachments:
            body["attachments"] = attachments
        return server.api("POST", "api/messages", body, tokens[who])

    first = say("alice", "Morning! The new build is up on staging.")
    say("carol", "Nice. @alice does it have the search fix?")
    answer = say("alice", "It does, and the reconnect banner.", reply_to=first["id"])
    edited = {"content": "It does, and the reconnect banner too."}
    server.api("PATCH", f"api/messages/{answer['id']}", edited, tokens["alice"])
    fix = say("bob", "Tried it on my phone: reconnecting after a restart just works.")
    for who, emoji in (("alice", "🎉"), ("carol", "🎉"), ("carol", "👍")):
        path = f"api/messages/{fix['id']}/reactions/{quote(emoji)}"
        server.api("PUT", path, None, tokens[who])
    picture = upload(server, tokens["bob"], "staging-on-my-phone.png", landscape())
    notes = b"Release notes\n- search fix\n- reconnect banner\n"
    text = upload(server, tokens["carol"], "release-notes.txt", notes)
    say("bob", "The view from the train while it reconnected.", attachments=[picture["id"]])
    say("carol", "<b>tags</b> show as text, as they should.", attachments=[text["id"]])
    return tokens


def landscape() -> bytes:
    """A small drawn picture (sky, sun, hills) as a PNG, to show a thumbnail."""
    image = Image.new("RGB", (480, 320), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.ellipse((330, 40, 410, 120), fill=(250, 210, 80))
    draw.polygon(
        [(0, 230), (140, 150), (290, 240), (480, 170), (480, 320), (0, 320)], fill=(60, 130, 70)
    )
    draw.polygon([(0, 280), (200, 220), (480, 290), (480, 320), (0, 320)], fill=(40, 100, 50))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def upload(server: LiveChat, token: str, name: str, body: bytes) -> Any:
    """POST api/uploads with the raw bytes; the Upload."""
    request = urllib.request.Request(
        server.url + "api/uploads?name=" + quote(name),
        method="POST",
        data=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        return json.loads(answer.read())


def shoot(browser: Browser, server: LiveChat, folder: Path) -> None:
    """Open alice's desktop page and bob's phone page in the Lobby and save both."""
    alice = ChatPage.open(browser, server.url, DESKTOP)
    alice.page.get_by_label("Username").fill("alice")
    alice.page.get_by_label("Password").fill(PASSWORD)
    alice.page.get_by_role("button", name="Log in").click()
    alice.expect_connected()
    alice.open_room("Lobby")
    bob = ChatPage.open(browser, server.url, PHONE)
    bob.page.get_by_label("Username").fill("bob")
    bob.page.get_by_label("Password").fill(PASSWORD)
    bob.page.get_by_role("button", name="Log in").click()
    bob.expect_connected()
    bob.open_room("Lobby")
    bob.box.type("On my way")  # alice sees bob typing
    from playwright.sync_api import expect

    # A mention in another room: its badges, and the notice.
    tokens = {name: login(server, name) for name in ("alice", "bob")}
    listed = server.api("GET", "api/rooms", token=tokens["alice"])
    rooms = {room["name"]: room["id"] for room in listed}
    review = {"room_id": rooms["Design"], "content": "@alice could you review them today?"}
    server.api("POST", "api/messages", review, tokens["bob"])
    expect(alice.room_button("Design")).to_have_accessible_name(
        "Design (private room), 2 unread, 1 mention"
    )
    expect(alice.page.locator("#mention-notice")).to_have_text("bob mentioned you in Design")

    expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
    for tab in (alice, bob):  # member-event lines come with a read of api/events
        expect(tab.event_lines("carol joined")).to_have_count(1)
    for tab in (alice, bob):  # the thumbnail has arrived
        tab.page.wait_for_function(
            "() => [...document.querySelectorAll('.attachment-image img')]"
            ".every((img) => img.complete && img.naturalWidth > 0)"
        )
    alice.page.mouse.move(0, 0)
    folder.mkdir(parents=True, exist_ok=True)
    alice.page.screenshot(path=str(folder / "chat-desktop.png"))
    bob.page.mouse.move(0, 0)
    bob.page.screenshot(path=str(folder / "chat-phone.png"))
    shoot_admin(browser, server, folder)


def shoot_admin(browser: Browser, server: LiveChat, folder: Path) -> None:
    """Alice, a server admin, in the admin panel: a room she is not in, with its log."""
    from playwright.sync_api import expect

    assert server.chat is not None
    store = server.chat.store
    server.blocking(lambda: store.set_admin("alice", True))
    tokens = {name: login(server, name) for name in ("alice", "bob")}
    ids = {
        user["username"]: user["id"]
        for user in server.api("GET", "api/admin/users", token=tokens["alice"])
    }
    rooms = {
        room["name"]: room["id"]
        for room in server.api("GET", "api/admin/rooms", token=tokens["alice"])
    }
    design = rooms["Design"]
    server.api("POST", f"api/rooms/{design}/invites", {"user_id": ids["carol"]}, tokens["bob"])
    role = {"role": "moderator"}
    server.api("PUT", f"api/rooms/{design}/members/{ids['alice']}/role", role, tokens["bob"])
    archive = {"archived": True, "reason": "merged into Design"}
    server.api("POST", f"api/admin/rooms/{rooms['Random']}/archive", archive, tokens["alice"])
    disable = {"reason": "spam"}
    server.api("POST", f"api/admin/users/{ids['dave']}/disable", disable, tokens["alice"])
    # A bot and a webhook of the room (the webhook last: no event after it, nothing delivered).
    bot = {"username": "deploy-bot", "room_id": design}
    server.api("POST", "api/bots", bot, tokens["alice"])
    hook = {"url": "https://ci.example.com/chat-hook"}
    server.api("POST", f"api/rooms/{design}/webhooks", hook, tokens["alice"])
    admin = ChatPage.open(browser, server.url + "admin", DESKTOP)
    admin.page.get_by_label("Username").fill("alice")
    admin.page.get_by_label("Password").fill(PASSWORD)
    admin.page.get_by_role("button", name="Log in").click()
    expect(admin.page.locator("#users-list tr")).to_have_count(5)  # with the bot
    admin.page.get_by_role("button", name="Rooms").click()
    admin.page.get_by_role("button", name="Manage Design").click()
    expect(admin.page.locator("#room-members tr")).to_have_count(4)  # with the bot
    expect(admin.page.locator("#room-audit-status")).to_have_text("")
    expect(admin.page.locator("#webhooks-list li")).to_have_count(1)
    expect(admin.page.locator("#bots-list tr")).to_have_count(1)
    admin.page.mouse.move(0, 0)
    admin.page.screenshot(path=str(folder / "admin-desktop.png"), full_page=True)


def login(server: LiveChat, username: str) -> str:
    """A token of ``username``."""
    body = {"username": username, "password": PASSWORD}
    token: str = server.api("POST", "api/login", body)["token"]
    return token


async def main(reactor: Any, folder: Path) -> None:
    """Serve, seed, shoot, stop."""
    with tempfile.TemporaryDirectory() as scratch:
        server = LiveChat(web_config(Path(scratch) / "chat.sqlite3", bcrypt_rounds=4))
        await server.start()
        try:

            def scenario(browser: Browser) -> None:
                seed(server)
                shoot(browser, server, folder)

            await in_browser(scenario)
        finally:
            await server.stop()
    print(f"saved chat-desktop.png, chat-phone.png and admin-desktop.png in {folder}")


if __name__ == "__main__":
    if SKIP:
        sys.exit(SKIP)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    react(lambda reactor: main(reactor, target))
