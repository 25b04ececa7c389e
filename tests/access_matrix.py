"""The access-control matrix: every room route × every relation to the room, on a real port.

For each visibility (public, private) and each relation of the caller to
the room (owner, moderator, member, muted, banned, invited, outsider, a
server admin outside it, a disabled member, a member whose token was
logged out), a fresh room is set up with fresh users, and every route
(the admins' room routes included) is called once; the
status must be the one ``expected`` gives. A moderation route acts on a
victim of its own (a plain member), so cells do not change each other;
routes that change the caller's own place (join, post, leave) come last.

Mixed into a ``TestCase`` per store (``test_access_matrix.py``): the
service runs on the real reactor, so SQLite and PostgreSQL answer through
their thread pools as in production.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import HTTPConnectionPool

from chatservice.service import ChatService
from chatservice.store import IChatStore
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.store_contract import MixinBase
from tests.wsclient import handshake_request, parse_http_answer, serve_tcp

RELATIONS = (
    "owner",
    "moderator",
    "member",
    "muted",
    "banned",
    "invited",
    "outsider",
    "admin",  # a server admin who is not in the room
    "disabled",  # a member whose account an admin disabled
    "revoked",  # a member whose token was logged out
)
JOINED = ("owner", "moderator", "member", "muted")
VICTIMS = ("kick", "ban", "mute", "role", "invite")

# (name, method, path, body); {room} and {<victim>} are filled in per cell.
ROUTES: tuple[tuple[str, str, str, Any], ...] = (
    ("history", "GET", "/api/messages?roomId={room}", None),
    ("events", "GET", "/api/events?roomId={room}", None),
    ("search", "GET", "/api/search?q=hello&roomId={room}", None),
    ("members", "GET", "/api/rooms/{room}/members", None),
    ("audit", "GET", "/api/rooms/{room}/audit", None),
    ("invite", "POST", "/api/rooms/{room}/invites", {"user_id": "{invite}"}),
    ("kick", "POST", "/api/rooms/{room}/kick", {"user_id": "{kick}"}),
    ("ban", "POST", "/api/rooms/{room}/ban", {"user_id": "{ban}"}),
    ("mute", "POST", "/api/rooms/{room}/mute", {"user_id": "{mute}"}),
    ("role", "PUT", "/api/rooms/{room}/members/{role}/role", {"role": "moderator"}),
    ("settings", "PATCH", "/api/rooms/{room}", {"description": "new"}),
    ("react", "PUT", "/api/messages/{message}/reactions/ok", None),
    ("edit-other", "PATCH", "/api/messages/{message}", {"content": "edited"}),
    ("delete-other", "DELETE", "/api/messages/{message}", None),
    ("handshake", "WS", "/ws?roomId={room}", None),
    ("post", "POST", "/api/messages", {"room_id": "{room}", "content": "hi"}),
    ("join", "POST", "/api/rooms/{room}/join", None),
    ("admin-archive", "POST", "/api/admin/rooms/{room}/archive", {"archived": False}),
    ("leave", "POST", "/api/rooms/{room}/leave", None),
    ("admin-delete", "DELETE", "/api/admin/rooms/{room}", None),
)


def expected(route: str, relation: str, private: bool) -> int:
    """The status docs/protocol.md's rules give ``relation`` on ``route``."""
    if relation == "revoked":
        return 401  # session_revoked, before anything is read
    if relation == "disabled":
        return 403  # account_disabled, before anything is read
    if route.startswith("admin-"):
        return 200 if relation == "admin" else 403  # the right is the server's
    if relation == "admin":
        relation = "outsider"  # in a room, an admin is whatever they are there
    hidden = private and relation in ("banned", "outsider")
    if hidden:
        return 404  # the room does not exist for them
    refused_read = relation == "banned" or (private and relation == "invited")
    if route in ("history", "events", "search", "members"):
        return 403 if refused_read else 200
    if route == "join":
        return 403 if relation == "banned" else 200
    if route == "handshake":
        return 403 if refused_read else 101
    if route in ("post", "react"):  # the owner's message, for react
        refused = refused_read or relation == "muted"
        return 403 if refused else (201 if route == "post" else 200)
    if route == "edit-other":  # only its author edits the owner's message
        return 200 if relation == "owner" else 403
    if route == "delete-other":  # its author, or a moderator
        return 200 if relation in ("owner", "moderator") else 403
    if route == "leave":
        if relation == "banned":
            return 403
        return 409 if relation == "owner" else 200
    if refused_read:
        return 403
    if route == "invite":
        if relation not in JOINED:
            return 403
        return 200 if not private or relation in ("owner", "moderator") else 403
    if route == "role":
        return 200 if relation == "owner" else 403
    return 200 if relation in ("owner", "moderator") else 403  # moderation, settings, audit


class AccessMatrixMixin(MixinBase):
    """The matrix on the store ``make_store`` gives."""

    timeout = 120

    async def make_store(self) -> IChatStore:
        """A started, empty store that is closed when the test ends."""
        raise NotImplementedError

    async def start(self) -> None:
        store = self.store = await self.make_store()
        config = config_for_tests(
            listen=("tcp:0:interface=127.0.0.1",), message_burst=100_000, register_limit=100_000
        )
        service = ChatService(
            config,
            reactor,
            store=store,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        self.port = await serve_tcp(self, service)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.names = itertools.count(1)
        self.admin_token, _ = await self.user()
        await store.set_admin(self.last_name, True)

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        if method == "WS":
            return await self.handshake(path, token)
        headers: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {token}"}
        url = f"http://127.0.0.1:{self.port}{path}"
        extra: dict[str, Any] = {} if body is None else {"json": body}
        answer = await treq.request(method, url, headers=headers, pool=self.pool, **extra)
        data = await answer.content()
        return answer.code, json.loads(data) if data else None

    async def handshake(self, target: str, token: str) -> tuple[int, Any]:
        """A raw opening handshake: 101 (then dropped), or the refusal's status and body."""
        request = handshake_request(target, {"Authorization": f"Bearer {token}"})
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        probe = await connectProtocol(endpoint, _HandshakeProbe(request))
        data = await probe.answered
        answer = parse_http_answer(data)
        return answer.status, json.loads(answer.body) if answer.body else None

    async def user(self) -> tuple[str, int]:
        name = self.last_name = f"user{next(self.names)}"
        status, body = await self.call_anonymous(
            "/api/register", {"username": name, "password": "password-1"}
        )
        assert status == 201, body
        return body["token"], body["user"]["id"]

    async def call_anonymous(self, path: str, body: Any) -> tuple[int, Any]:
        answer = await treq.post(f"http://127.0.0.1:{self.port}{path}", json=body, pool=self.pool)
        return answer.code, json.loads(await answer.content())

    async def ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, token, body)
        assert status in (200, 201), (method, path, status, answer)
        return answer

    async def cell(self, relation: str, private: bool) -> tuple[str, dict[str, int]]:
        """A room, an actor with ``relation`` to it, and victims (plain members); the fill-ins."""
        owner, _ = await self.user()
        visibility = "private" if private else "public"
        room = (
            await self.ok(
                "POST",
                "/api/rooms",
                owner,
                {"name": f"r{next(self.names)}", "visibility": visibility},
            )
        )["id"]
        said = await self.ok("POST", "/api/messages", owner, {"room_id": room, "content": "hello"})
        fill = {"room": room, "message": said["id"]}
        for victim in VICTIMS:
            token, user_id = await self.user()
            fill[victim] = user_id
            if victim != "invite":
                await self.bring_in(owner, token, user_id, room, private)
        if relation == "owner":
            return owner, fill
        actor, actor_id = await self.user()
        if relation == "admin":
            await self.store.set_admin(self.last_name, True)
        if relation in ("outsider", "admin"):
            return actor, fill
        if relation == "invited":
            await self.ok("POST", f"/api/rooms/{room}/invites", owner, {"user_id": actor_id})
            return actor, fill
        await self.bring_in(owner, actor, actor_id, room, private)
        if relation == "moderator":
            await self.ok(
                "PUT", f"/api/rooms/{room}/members/{actor_id}/role", owner, {"role": "moderator"}
            )
        elif relation in ("muted", "banned"):
            action = {"muted": "mute", "banned": "ban"}[relation]
            await self.ok("POST", f"/api/rooms/{room}/{action}", owner, {"user_id": actor_id})
        elif relation == "disabled":
            await self.ok("POST", f"/api/admin/users/{actor_id}/disable", self.admin_token)
        elif relation == "revoked":
            await self.ok("POST", "/api/logout", actor)
        return actor, fill

    async def bring_in(
        self, owner: str, token: str, user_id: int, room: int, private: bool
    ) -> None:
        if private:
            await self.ok("POST", f"/api/rooms/{room}/invites", owner, {"user_id": user_id})
        await self.ok("POST", f"/api/rooms/{room}/join", token)

    async def test_every_route_for_every_relation(self) -> None:
        """Each cell answers what the rules give; a private room's 404 is an unknown id's."""
        await self.start()
        wrong: list[tuple[Any, ...]] = []
        for private, relation in itertools.product((False, True), RELATIONS):
            actor, fill = await self.cell(relation, private)
            for route, method, path, body in ROUTES:
                status, answer = await self.call(
                    method, _fill(path, fill), actor, _fill(body, fill)
                )
                want = expected(route, relation, private)
                if status != want:
                    wrong.append(
                        (
                            ("private" if private else "public"),
                            relation,
                            route,
                            status,
                            want,
                            answer,
                        )
                    )
                if want == 404:
                    nothing = {**fill, "room": 10**9, "message": 10**9}
                    unknown = await self.call(
                        method, _fill(path, nothing), actor, _fill(body, nothing)
                    )
                    if (status, answer) != unknown:
                        wrong.append(("private", relation, route, "leaks", answer, unknown))
        self.assertEqual(wrong, [])


class _HandshakeProbe(Protocol):
    """Sends a handshake; ``answered`` fires with what came back once it is complete.

    A 101 is complete at the end of its head (the connection is then
    dropped); a refusal when the server closes the connection after it.
    """

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.received = b""
        self.answered: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.received.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in self.received:
            transport: Any = self.transport
            transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.answered.called:
            self.answered.callback(self.received)


def _fill(template: Any, values: dict[str, int]) -> Any:
    if isinstance(template, str):
        for name, value in values.items():
            if template == "{" + name + "}":
                return value
            template = template.replace("{" + name + "}", str(value))
        return template
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    return template
