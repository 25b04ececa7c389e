"""Hardening: the bad-token matrix on REST and WebSocket, Origin, secrets, HTTP hygiene.

The token matrix runs every kind of bad credential against every
authenticated operation of the OpenAPI document and every way of presenting
one to the ``/ws`` handshake, on a store that records what it is asked:
a refusal must come before any room or message is read.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.internet.defer import Deferred, fail
from twisted.logger import LogLevel
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from chatservice import __version__
from chatservice.access_models import Member
from chatservice.errors import NotFound
from chatservice.hook_models import DEAD, NewWebhook, Outcome
from chatservice.models import Account, Credentials, Message, NewMessage, Posted, Room, User
from chatservice.openapi import DOCUMENT
from chatservice.revocation import REFRESH_SECONDS
from chatservice.settings import DEV_JWT_SECRET
from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from tests.fakes import TEST_SECRET, FakeReactor, make_service
from tests.files_support import png_bytes
from tests.logcapture import LogCapture
from tests.push_support import PUSH_SETTINGS, Browser
from tests.rest_support import PASSWORD, Reply, RestTestCase, alice_claims, forge
from tests.wsclient import (
    HttpAnswer,
    MemoryWorld,
    RawClient,
    memory_world,
    parse_http_answer,
    result_now,
)

JSON = "application/json"
PUSH_SUBSCRIPTION = Browser().subscription("https://push.example/alice")


@implementer(IChatStore)
class RecordingStore(MemoryStore):
    """A memory store that records which methods it was asked, and can "delete" users."""

    def __init__(self, clock: FakeReactor) -> None:
        super().__init__(clock)
        self.clock = clock  # what tests.wsclient.memory_world looks for
        self.calls: list[str] = []
        self.deleted: set[int] = set()

    def create_user(self, username: str, password_hash: bytes, created_at: int) -> Deferred[User]:
        self.calls.append("create_user")
        return super().create_user(username, password_hash, created_at)

    def get_user(self, user_id: int) -> Deferred[User]:
        self.calls.append("get_user")
        if user_id in self.deleted:
            return fail(NotFound("No such user."))
        return super().get_user(user_id)

    def get_credentials(self, username: str) -> Deferred[Credentials]:
        self.calls.append("get_credentials")
        return super().get_credentials(username)

    def get_accounts(self, user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, Account]]:
        self.calls.append("get_accounts")
        return super().get_accounts(user_ids, now).addCallback(self._without_deleted)

    def _without_deleted(self, found: Mapping[int, Account]) -> Mapping[int, Account]:
        return {
            user_id: account for user_id, account in found.items() if user_id not in self.deleted
        }

    def create_room(self, *args: Any, **kwargs: Any) -> Deferred[Room]:
        self.calls.append("create_room")
        return super().create_room(*args, **kwargs)

    def rooms_of(self, user_id: int) -> Deferred[Sequence[Room]]:
        self.calls.append("rooms_of")
        return super().rooms_of(user_id)

    def get_room(self, room_id: int) -> Deferred[Room]:
        self.calls.append("get_room")
        return super().get_room(room_id)

    def get_room_and_member(
        self, room_id: int, user_id: int
    ) -> Deferred[tuple[Room, Member | None]]:
        self.calls.append("get_room_and_member")
        return super().get_room_and_member(room_id, user_id)

    def list_rooms(self) -> Deferred[Sequence[Room]]:
        self.calls.append("list_rooms")
        return super().list_rooms()

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        self.calls.append("add_messages")
        return super().add_messages(messages)

    def get_messages(
        self, room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[Message]]:
        self.calls.append("get_messages")
        return super().get_messages(room_id, limit, before, after)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hmac_signed_with_header(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT with any header, HMAC-SHA256-signed with the service's own secret.

    With ``{"alg": "RS256"}`` this is the algorithm-confusion attack: a server
    that picks the algorithm from the header would check it as HS256.
    """
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(TEST_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@functools.cache
def rsa_private_key() -> bytes:
    """An RSA key of our own, generated once per run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class BadToken:
    """One row of the matrix: a credential, the 401 code it earns, and what may be read."""

    name: str
    token: str | None
    code: str
    store_calls: tuple[str, ...] = ()


class TokenMatrixCase(TestCase):
    """alice (live), carol (deleted after registering), and every kind of bad token."""

    def setUp(self) -> None:
        self.store = RecordingStore(FakeReactor())
        # Web Push on, so that registering a subscription answers 201.
        self.world: MemoryWorld = memory_world(self, store=self.store, **PUSH_SETTINGS)
        self.world.reactor.advance(1_000_000)
        self.token, self.user_id = self.world.rest.register("alice")
        self.carol_token, carol_id = self.world.rest.register("carol")
        self.store.deleted.add(carol_id)
        # Room 2, alice's, with bob (user 3) in it for the moderation routes;
        # their joins are timeline events 1 and 2, so alice's first message
        # below is 3.
        bob_token, _ = self.world.rest.register("bob")
        self.world.rest.call("POST", "/api/rooms", self.token, {"name": "Moderated"})
        # Webhook 1 of room 2, with bob's join (below) as its dead letter 1.
        self.store.create_webhook(NewWebhook(2, "https://hooks.example/", "s", self.user_id, 1))
        self.world.rest.call("POST", "/api/rooms/2/join", bob_token)
        self.store.claim_webhooks("setup", 0, 1, 10)
        self.store.record_outcome(Outcome(1, "setup", DEAD, 1, 1, 1, attempts=1, last_error="x"))
        self.world.rest.call("POST", "/api/rooms/1/join", self.token)
        self.world.rest.register("dave")  # user 4, for the admin routes
        self.store.set_admin("alice", True)
        stub: Any = self.world.rest.treq  # StubTreq builds its methods at run time
        uploading = stub.post(
            "http://chat.test/api/uploads?name=p.png",
            data=png_bytes(),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self.world.rest.treq.flush()
        self.assertEqual(result_now(uploading).code, 201)  # upload 1

    def login(self, password: str) -> str:
        """Log alice in again; her new token."""
        body = {"username": "alice", "password": password}
        status, answer = self.world.rest.call("POST", "/api/login", None, body)
        self.assertEqual(status, 200, answer)
        token: str = answer["token"]
        return token

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Claims like the service's own for alice, with some changed or (None) removed."""
        return alice_claims(self.user_id, int(self.world.reactor.seconds()), **changes)

    def bad_tokens(self) -> list[BadToken]:
        """Every kind of bad credential, each otherwise a perfectly good token for alice."""
        now = int(self.world.reactor.seconds())
        claims = self.claims()
        return [
            BadToken("garbage", "not-a-jwt", "unauthorized"),
            BadToken("alg none", forge(claims, key="", algorithm="none"), "unauthorized"),
            BadToken("HS384", forge(claims, algorithm="HS384"), "unauthorized"),
            BadToken("HS512", forge(claims, algorithm="HS512"), "unauthorized"),
            BadToken(
                "RS256 header, HMAC signature",
                hmac_signed_with_header({"alg": "RS256", "typ": "JWT"}, claims),
                "unauthorized",
            ),
            BadToken(
                "RS256 with an RSA key",
                jwt.encode(claims, rsa_private_key(), algorithm="RS256"),
                "unauthorized",
            ),
            BadToken(
                "header that is not an object",
                "W10." + _b64(json.dumps(claims).encode()) + ".c2ln",
                "unauthorized",
            ),
            BadToken(
                "another key",
                forge(claims, key="another-secret-that-is-also-32-bytes-long"),
                "unauthorized",
            ),
            BadToken("expired", forge(self.claims(iat=now - 7200, exp=now)), "token_expired"),
            BadToken("no exp", forge(self.claims(exp=None)), "unauthorized"),
            BadToken("no iat", forge(self.claims(iat=None)), "unauthorized"),
            BadToken("no sub", forge(self.claims(sub=None)), "unauthorized"),
            BadToken(
                "user that never existed",
                forge(self.claims(sub="999", username="ghost")),
                "unauthorized",
                ("get_accounts",),
            ),
            BadToken("deleted user", self.carol_token, "unauthorized", ("get_accounts",)),
        ]


# Authenticated operations of the OpenAPI document: how to call each one so
# that, with a good token, it would succeed.
AUTHENTICATED_CALLS: dict[tuple[str, str], tuple[str, Any]] = {
    ("GET", "/api/rooms"): ("/api/rooms", None),
    ("POST", "/api/rooms"): ("/api/rooms", {"name": "made by the alias"}),
    ("POST", "/api/rooms/create"): ("/api/rooms/create", {"name": "made by create"}),
    ("GET", "/api/messages"): ("/api/messages?roomId=1", None),
    ("POST", "/api/ws-ticket"): ("/api/ws-ticket", None),
    # In this order: the first message alice sends is event 3 (setUp's joins).
    ("POST", "/api/messages"): ("/api/messages", {"room_id": 1, "content": "hi"}),
    ("PATCH", "/api/messages/{message_id}"): ("/api/messages/3", {"content": "edited"}),
    ("PUT", "/api/messages/{message_id}/reactions/{emoji}"): (
        "/api/messages/3/reactions/ok",
        None,
    ),
    ("DELETE", "/api/messages/{message_id}/reactions/{emoji}"): (
        "/api/messages/3/reactions/ok",
        None,
    ),
    ("DELETE", "/api/messages/{message_id}"): ("/api/messages/3", None),
    ("GET", "/api/events"): ("/api/events?roomId=1", None),
    ("GET", "/api/search"): ("/api/search?q=hi", None),
    # A JSON body is a file like any other: upload 2, alice's own (1 is her
    # PNG, uploaded in setUp, which has a thumbnail).
    ("POST", "/api/uploads"): ("/api/uploads?name=notes.json", {"a": "file"}),
    ("GET", "/api/files/{file_id}"): ("/api/files/2", None),
    ("GET", "/api/files/{file_id}/thumbnail"): ("/api/files/1/thumbnail", None),
    # Room 2 is alice's and bob (user 3) is in it (setUp).
    ("PATCH", "/api/rooms/{room_id}"): ("/api/rooms/2", {"description": "d"}),
    ("POST", "/api/rooms/{room_id}/join"): ("/api/rooms/1/join", None),
    ("POST", "/api/rooms/{room_id}/read"): ("/api/rooms/1/read", {"last_read_id": 1}),
    ("POST", "/api/rooms/{room_id}/invites"): ("/api/rooms/2/invites", {"user_id": 3}),
    ("GET", "/api/rooms/{room_id}/members"): ("/api/rooms/2/members", None),
    ("PUT", "/api/rooms/{room_id}/members/{user_id}/role"): (
        "/api/rooms/2/members/3/role",
        {"role": "moderator"},
    ),
    ("POST", "/api/rooms/{room_id}/mute"): ("/api/rooms/2/mute", {"user_id": 3}),
    ("POST", "/api/rooms/{room_id}/unmute"): ("/api/rooms/2/unmute", {"user_id": 3}),
    ("POST", "/api/rooms/{room_id}/kick"): ("/api/rooms/2/kick", {"user_id": 3}),
    ("POST", "/api/rooms/{room_id}/ban"): ("/api/rooms/2/ban", {"user_id": 3}),
    ("POST", "/api/rooms/{room_id}/unban"): ("/api/rooms/2/unban", {"user_id": 3}),
    ("GET", "/api/rooms/{room_id}/audit"): ("/api/rooms/2/audit", None),
    ("POST", "/api/dms"): ("/api/dms", {"user_id": 3}),
    ("POST", "/api/rooms/{room_id}/leave"): ("/api/rooms/1/leave", None),
    # alice is a server admin (``TokenMatrixCase``); user 4 is dave.
    ("GET", "/api/admin/users"): ("/api/admin/users?q=a", None),
    ("GET", "/api/admin/audit"): ("/api/admin/audit", None),
    ("POST", "/api/admin/users/{user_id}/disable"): ("/api/admin/users/4/disable", None),
    ("POST", "/api/admin/users/{user_id}/enable"): ("/api/admin/users/4/enable", None),
    ("POST", "/api/admin/users/{user_id}/erase-messages"): (
        "/api/admin/users/4/erase-messages",
        {"reason": "spam"},
    ),
    # Rooms 3 and 4 are the two made above.
    ("GET", "/api/admin/rooms"): ("/api/admin/rooms?q=e", None),
    ("GET", "/api/admin/rooms/{room_id}/members"): ("/api/admin/rooms/3/members", None),
    ("POST", "/api/admin/rooms/{room_id}/archive"): (
        "/api/admin/rooms/3/archive",
        {"archived": True},
    ),
    ("DELETE", "/api/admin/rooms/{room_id}"): ("/api/admin/rooms/4", None),
    # Webhook 1 of room 2 has dead letter 1 (setUp); the bot is user 5.
    ("POST", "/api/rooms/{room_id}/webhooks"): (
        "/api/rooms/2/webhooks",
        {"url": "https://hooks.example.com/chat"},
    ),
    ("GET", "/api/rooms/{room_id}/webhooks"): ("/api/rooms/2/webhooks", None),
    ("GET", "/api/rooms/{room_id}/webhooks/{webhook_id}"): ("/api/rooms/2/webhooks/1", None),
    ("GET", "/api/rooms/{room_id}/webhooks/{webhook_id}/dead-letters"): (
        "/api/rooms/2/webhooks/1/dead-letters",
        None,
    ),
    ("POST", "/api/rooms/{room_id}/webhooks/{webhook_id}/dead-letters/{dead_letter_id}/retry"): (
        "/api/rooms/2/webhooks/1/dead-letters/1/retry",
        None,
    ),
    ("DELETE", "/api/rooms/{room_id}/webhooks/{webhook_id}/dead-letters/{dead_letter_id}"): (
        "/api/rooms/2/webhooks/1/dead-letters/1",
        None,
    ),
    ("DELETE", "/api/rooms/{room_id}/webhooks/{webhook_id}"): ("/api/rooms/2/webhooks/1", None),
    ("POST", "/api/bots"): ("/api/bots", {"username": "robot", "room_id": 2}),
    ("GET", "/api/bots"): ("/api/bots", None),
    ("POST", "/api/bots/{bot_id}/key"): ("/api/bots/5/key", None),
    ("DELETE", "/api/bots/{bot_id}/key"): ("/api/bots/5/key", None),
    # Web Push: alice's first subscription is number 1.
    ("POST", "/api/push/subscriptions"): ("/api/push/subscriptions", PUSH_SUBSCRIPTION),
    ("GET", "/api/push/subscriptions"): ("/api/push/subscriptions", None),
    ("DELETE", "/api/push/subscriptions/{subscription_id}"): ("/api/push/subscriptions/1", None),
    # Last, in this order: each revokes the token it is called with.
    ("POST", "/api/logout"): ("/api/logout", None),
    ("POST", "/api/logout-all"): ("/api/logout-all", None),
    ("POST", "/api/account/password"): (
        "/api/account/password",
        {"current_password": "password-1", "new_password": "password-2"},
    ),
    ("DELETE", "/api/account"): ("/api/account", {"password": "password-2"}),
}


def authenticated_operations() -> set[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI document marks as needing a token."""
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }


class RestTokenMatrixTests(TokenMatrixCase):
    """Every bad token on every authenticated REST operation: 401, nothing read."""

    def test_the_matrix_covers_every_authenticated_operation(self) -> None:
        """The table of calls below names exactly the document's authenticated operations."""
        self.assertEqual(set(AUTHENTICATED_CALLS), authenticated_operations())

    def test_good_token_opens_every_authenticated_operation_and_reads_data(self) -> None:
        """The control: alice's own token gets 2xx everywhere; her account is not read again.

        A logout revokes the token it is called with, so alice logs in
        again after each; the password change answers her next token.
        """
        self.store.calls.clear()
        self.world.rest.call("GET", "/api/messages?roomId=1", self.token)
        # Alice's account was read by her first request (in setUp), and is cached.
        self.assertNotIn("get_accounts", self.store.calls)
        self.assertIn("get_messages", self.store.calls)
        token = self.token
        answer: Any
        for (method, _), (target, body) in AUTHENTICATED_CALLS.items():
            self.store.calls.clear()
            if target.startswith("/api/files/"):  # bytes, not JSON
                status, answer = self.world.rest.call_raw(method, target, token, body)
            else:
                status, answer = self.world.rest.call(method, target, token, body)
            self.assertIn(status, (200, 201), target)
            if not target.startswith("/api/admin/"):  # admin routes read the right anew
                self.assertNotIn("get_accounts", self.store.calls, target)
            if target in ("/api/logout", "/api/logout-all"):
                token = self.login("password-1")
            elif target == "/api/account/password":
                token = answer["token"]

    def test_no_token_is_401_everywhere_before_anything_is_read(self) -> None:
        """Without a token every authenticated operation is 401 and the store is not asked."""
        for (method, _), (target, body) in AUTHENTICATED_CALLS.items():
            self.store.calls.clear()
            status, answer = self.world.rest.call(method, target, None, body)
            self.assertEqual((status, answer["code"], self.store.calls), (401, "unauthorized", []))

    def test_every_bad_token_is_401_everywhere_before_any_data_is_read(self) -> None:
        """Each bad token gets its 401 on each operation; at most its user is looked up."""
        expected = {}
        actual = {}
        for bad in self.bad_tokens():
            for (method, _), (target, body) in AUTHENTICATED_CALLS.items():
                key = f"{bad.name}: {method} {target}"
                self.store.calls.clear()
                status, answer = self.world.rest.call(method, target, bad.token, body)
                actual[key] = (status, answer.get("code"), tuple(self.store.calls))
                expected[key] = (401, bad.code, bad.store_calls)
        self.assertEqual(actual, expected)


class WebSocketTokenMatrixTests(TokenMatrixCase):
    """Every bad token on every way into ``/ws``: a 401 before the room is looked up."""

    def refused(self, target: str, headers: dict[str, str] | None = None) -> HttpAnswer:
        self.store.calls.clear()
        return self.world.chat.refusal(target, headers)

    def outcome(self, answer: HttpAnswer) -> tuple[int, str | None, tuple[str, ...]]:
        code = answer.json()["code"] if answer.status >= 400 else None
        return answer.status, code, tuple(self.store.calls)

    def test_good_credentials_open_and_read_the_room(self) -> None:
        """The control: header, token= and ticket= each open the socket after a room lookup."""
        ticket = self.world.rest.ticket(self.token)
        for target, headers in (
            ("/ws?roomId=1", {"Authorization": f"Bearer {self.token}"}),
            (f"/ws?roomId=1&token={self.token}", None),
            (f"/ws?roomId=1&ticket={ticket}", None),
        ):
            self.store.calls.clear()
            answer, _, _ = self.world.chat.raw(target, headers)
            self.assertEqual(answer.status, 101, target)
            # Alice's account was read by the ticket request, and is cached.
            self.assertEqual(self.store.calls, ["get_room_and_member"], target)

    def test_no_credentials_are_401_before_anything_is_read(self) -> None:
        """A handshake with no header, token or ticket is 401 and the store is not asked."""
        self.assertEqual(self.outcome(self.refused("/ws?roomId=1")), (401, "unauthorized", ()))

    def test_every_bad_token_in_the_header_is_401_before_the_room_is_read(self) -> None:
        """Each bad token in Authorization gets its 401; at most its user is looked up."""
        actual = {
            bad.name: self.outcome(
                self.refused("/ws?roomId=1", {"Authorization": f"Bearer {bad.token}"})
            )
            for bad in self.bad_tokens()
        }
        expected = {bad.name: (401, bad.code, bad.store_calls) for bad in self.bad_tokens()}
        self.assertEqual(actual, expected)

    def test_every_bad_token_in_the_query_is_401_before_the_room_is_read(self) -> None:
        """Each bad token as ``token=`` gets its 401; at most its user is looked up."""
        actual = {
            bad.name: self.outcome(self.refused(f"/ws?roomId=1&token={bad.token}"))
            for bad in self.bad_tokens()
        }
        expected = {bad.name: (401, bad.code, bad.store_calls) for bad in self.bad_tokens()}
        self.assertEqual(actual, expected)

    def test_bad_tickets_are_401_before_anything_is_read(self) -> None:
        """Unknown, used and expired tickets are 401 without a store call."""
        used = self.world.rest.ticket(self.token)
        self.assertEqual(self.world.chat.raw(f"/ws?roomId=1&ticket={used}")[0].status, 101)
        expired = self.world.rest.ticket(self.token)
        self.world.reactor.advance(31)
        for ticket in ("never-issued", used, expired):
            answer = self.refused(f"/ws?roomId=1&ticket={ticket}")
            self.assertEqual(self.outcome(answer), (401, "unauthorized", ()), ticket)

    def test_ticket_of_a_deleted_user_is_401_before_the_room_is_read(self) -> None:
        """A ticket whose user deleted their account after it was issued: 401, nothing read."""
        token, _ = self.world.rest.register("erin")
        ticket = self.world.rest.ticket(token)
        status, _ = self.world.rest.call(
            "DELETE", "/api/account", token, {"password": "password-1"}
        )
        self.assertEqual(status, 200)
        answer = self.refused(f"/ws?roomId=1&ticket={ticket}")
        self.assertEqual(self.outcome(answer), (401, "unauthorized", ()))

    def test_ticket_of_a_user_deleted_behind_the_services_back_is_401_after_a_refresh(
        self,
    ) -> None:
        """Deleted in the store alone (no event): refused once the cached account is re-read."""
        carol_id = next(iter(self.store.deleted))
        self.store.deleted.clear()
        self.world.rest.ticket(self.carol_token)  # carol's account is cached from now
        self.world.reactor.advance(REFRESH_SECONDS - 1)
        ticket = self.world.rest.ticket(self.carol_token)
        self.store.deleted.add(carol_id)
        self.world.reactor.advance(1)
        answer = self.refused(f"/ws?roomId=1&ticket={ticket}")
        self.assertEqual(self.outcome(answer), (401, "unauthorized", ("get_accounts",)))

    def test_ticket_dies_with_the_token_that_asked_for_it(self) -> None:
        """A ticket from a token with 10 s left is refused 11 s later, within its 30 s."""
        now = int(self.world.reactor.seconds())
        short_lived = forge(self.claims(exp=now + 10))
        ticket = self.world.rest.ticket(short_lived)
        self.world.reactor.advance(11)
        answer = self.refused(f"/ws?roomId=1&ticket={ticket}")
        self.assertEqual(self.outcome(answer), (401, "unauthorized", ()))


class WebSocketAnyOriginTests(TestCase):
    """With ``CORS_ORIGINS=*`` the WebSocket accepts any Origin."""

    def test_any_origin_opens(self) -> None:
        """Any Origin, ``null`` and odd schemes included, gets the 101."""
        world = memory_world(self)
        token, _ = world.rest.register("alice")
        for origin in (
            "https://anything.example",
            "null",
            "http://localhost:8080",
            "chrome-extension://abcdef",
        ):
            headers = {"Authorization": f"Bearer {token}", "Origin": origin}
            answer, _, _ = world.chat.raw("/ws?roomId=1", headers)
            self.assertEqual(answer.status, 101, origin)


class WebSocketOriginListTests(TestCase):
    """With a list in ``CORS_ORIGINS`` only its origins open a socket from a browser."""

    ALLOWED = "https://chat.example.com"

    def setUp(self) -> None:
        self.world = memory_world(self, cors_origins=(self.ALLOWED,))
        self.token, _ = self.world.rest.register("alice")

    def handshake(self, origin: str) -> HttpAnswer:
        headers = {"Authorization": f"Bearer {self.token}", "Origin": origin}
        return self.world.chat.refusal("/ws?roomId=1", headers)

    def test_near_misses_are_403(self) -> None:
        """Another scheme, port, subdomain or suffix is not the listed origin."""
        for origin in (
            "http://chat.example.com",
            "https://chat.example.com:8443",
            "https://evil.chat.example.com",
            "https://chat.example.com.evil.example",
            "https://chat.example.co",
        ):
            answer = self.handshake(origin)
            self.assertEqual((answer.status, answer.json()["code"]), (403, "forbidden"), origin)

    def test_refusal_does_not_grant_the_origin_cors(self) -> None:
        """The 403 is JSON and carries no Access-Control-Allow-* header."""
        answer = self.handshake("https://evil.example")
        self.assertEqual(answer.headers.get("content-type"), JSON)
        self.assertEqual([h for h in answer.headers if h.startswith("access-control-")], [])

    def test_origin_matches_case_insensitively(self) -> None:
        """Scheme and host compare without regard to case, as browsers' origins do."""
        self.assertEqual(self.handshake("HTTPS://Chat.Example.COM").status, 101)


class CorsNeverReflectsTests(RestTestCase):
    """With a list configured, CORS never answers an Origin that is not on it."""

    config_changes = {"cors_origins": ("https://app.example", "http://localhost:3000")}
    FOREIGN = (
        "https://evil.example",
        "https://app.example.evil.example",
        "http://app.example",
        "https://app.example:444",
        "null",
        "*",
    )

    def setUp(self) -> None:
        super().setUp()
        self.token, _ = self.register("alice")

    def answers(self, origin: str) -> list[Reply]:
        """A success, errors and a preflight, each sent with ``origin``."""
        token = self.token
        headers = {"Origin": origin}
        preflight = {**headers, "Access-Control-Request-Method": "POST"}
        return [
            self.request("GET", "/health", headers=headers),
            self.request("GET", "/api/rooms", headers=headers, token=token),
            self.request("GET", "/api/rooms", headers=headers),
            self.request("POST", "/api/login", headers=headers, json={}),
            self.request("GET", "/nowhere", headers=headers),
            self.request("OPTIONS", "/api/rooms", headers=preflight),
        ]

    def test_foreign_origins_never_get_an_allow_origin_header(self) -> None:
        """No answer, success, error or preflight, names a foreign origin or ``*``."""
        for origin in self.FOREIGN:
            for reply in self.answers(origin):
                self.assertIsNone(reply.header("access-control-allow-origin"), origin)

    def test_listed_origins_get_exactly_themselves_and_never_credentials(self) -> None:
        """A listed origin is answered with itself, and no answer allows credentials."""
        for origin in ("https://app.example", "http://localhost:3000"):
            for reply in self.answers(origin):
                self.assertEqual(reply.header("access-control-allow-origin"), origin)
                self.assertIsNone(reply.header("access-control-allow-credentials"))


class DevSecretWarningTests(SynchronousTestCase):
    """The documented development JWT_SECRET starts the service, with a loud warning."""

    def secret_warnings(self, secret: str) -> list[str]:
        logs = LogCapture(self)
        service, _ = make_service(jwt_secret=secret)
        self.addCleanup(lambda: self.successResultOf(service.stopService()))
        self.successResultOf(service.ready)
        return [text for text in logs.texts(at_least=LogLevel.warn) if "JWT_SECRET" in text]

    def test_dev_default_secret_logs_a_warning_at_start(self) -> None:
        """Starting with the default secret logs one warning that names JWT_SECRET."""
        self.assertEqual(len(self.secret_warnings(DEV_JWT_SECRET)), 1)

    def test_real_secret_logs_no_warning(self) -> None:
        """A secret of 32+ bytes of one's own starts quietly."""
        self.assertEqual(self.secret_warnings(TEST_SECRET), [])


class HttpHygieneTests(RestTestCase):
    """Headers and bad input on every route: no version leaks, 400 never 500."""

    def test_server_header_carries_no_version(self) -> None:
        """The Server header names neither Twisted nor any version number."""
        for path in ("/health", "/api/openapi.json", "/api/rooms", "/nowhere"):
            server = self.request("GET", path).header("server") or ""
            self.assertNotIn(__version__, server, path)
            self.assertFalse(any(c.isdigit() for c in server), server)
            self.assertNotIn("twisted", server.lower())

    def test_openapi_and_errors_are_not_cacheable_or_sniffable(self) -> None:
        """The document and error answers say no-store and nosniff like everything else."""
        for method, path in (("GET", "/api/openapi.json"), ("POST", "/api/login")):
            reply = self.request(method, path, json={})
            self.assertEqual(reply.header("cache-control"), "no-store", path)
            self.assertEqual(reply.header("x-content-type-options"), "nosniff", path)

    def test_huge_integers_in_the_query_are_400(self) -> None:
        """An integer parameter too long for Python's int parser is a 400, not a 500."""
        token, _ = self.register("alice")
        huge = "9" * 5000
        for query in (
            f"roomId={huge}",
            f"roomId=1&limit={huge}",
            f"roomId=1&before={huge}",
            f"roomId=1&after={huge}",
        ):
            reply = self.request("GET", f"/api/messages?{query}", token=token)
            self.assert_error(reply, 400, "invalid_request")
        zeros = self.request("GET", f"/api/messages?roomId={'0' * 5000}1", token=token)
        self.assertEqual(zeros.code, 200)  # leading zeros: still room 1

    def hostile_bodies(self, fields: Sequence[str]) -> dict[str, bytes]:
        """Bodies no route may answer with a 5xx, built around a route's string fields."""
        deep = b"[" * 10_000 + b"]" * 10_000
        bodies: dict[str, bytes] = {
            "10,000 nested lists": deep,
            "10,000 nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
            "a 60,000-element list": b"[" + b"0," * 30_000 + b"0]",
            "a BOM before the JSON": b"\xef\xbb\xbf{}",
            "an integer of 5,000 digits": b'{"x": ' + b"9" * 5000 + b"}",
            "NaN": b"NaN",
        }
        for name in fields:
            good = {field: "valid-value-1" for field in fields}
            for label, value in (
                ("nested deep", json.loads(b"[" * 40 + b"]" * 40)),
                ("a number", 12345678),
                ("a float", 1e308),
                ("true", True),
                ("a list", ["x"]),
                ("an object", {"x": "y"}),
            ):
                bodies[f"{name} is {label}"] = json.dumps({**good, name: value}).encode()
            for label, text in (
                ("a lone high surrogate", '"abc\\ud800xyz"'),
                ("a lone low surrogate", '"\\udfffabcdefgh"'),
                ("a NUL byte", '"abc\\u0000defgh"'),
            ):
                others = ", ".join(f'"{f}": "valid-value-1"' for f in fields if f != name)
                prefix = f"{others}, " if others else ""
                bodies[f"{name} is {label}"] = f'{{{prefix}"{name}": {text}}}'.encode()
        return bodies

    def assert_all_400(
        self, method: str, path: str, fields: Sequence[str], token: str | None = None
    ) -> None:
        """Every hostile body on ``path`` is a JSON 400 with a client-error code."""
        outcomes = {}
        for label, data in self.hostile_bodies(fields).items():
            reply = self.request(method, path, data=data, token=token)
            code = reply.json().get("code") if reply.code != 201 else None
            outcomes[label] = (reply.code, code in ("invalid_json", "invalid_request"))
        self.assertEqual(outcomes, {label: (400, True) for label in outcomes})

    def test_hostile_bodies_on_register_are_400(self) -> None:
        """Deep, huge, mistyped, NUL or surrogate-bearing register bodies are 400s."""
        self.assert_all_400("POST", "/api/register", ("username", "password"))

    def test_hostile_bodies_on_login_are_400(self) -> None:
        """The same bodies on login are 400s, before any credential is checked."""
        self.assert_all_400("POST", "/api/login", ("username", "password"))

    def test_hostile_bodies_on_room_creation_are_400(self) -> None:
        """The same bodies on both room-creation routes are 400s."""
        token, _ = self.register("alice")
        for path in ("/api/rooms", "/api/rooms/create"):
            self.assert_all_400("POST", path, ("name", "description"), token)

    def test_over_long_fields_are_refused_as_documented(self) -> None:
        """One character over each length limit, or 60,000, is a 400 (a 401 on login)."""
        token, _ = self.register("alice")
        huge = "x" * 60_000
        cases: list[tuple[str, dict[str, str], int, str]] = [
            (
                "/api/register",
                {"username": "u" * 33, "password": PASSWORD},
                400,
                "invalid_request",
            ),
            ("/api/register", {"username": huge, "password": PASSWORD}, 400, "invalid_request"),
            ("/api/register", {"username": "bob", "password": "p" * 73}, 400, "password_too_long"),
            ("/api/register", {"username": "bob", "password": huge}, 400, "password_too_long"),
            ("/api/login", {"username": huge, "password": PASSWORD}, 401, "invalid_credentials"),
            ("/api/login", {"username": "alice", "password": huge}, 401, "invalid_credentials"),
            ("/api/rooms", {"name": "n" * 65}, 400, "invalid_request"),
            ("/api/rooms", {"name": huge}, 400, "invalid_request"),
            ("/api/rooms/create", {"name": "r", "description": "d" * 513}, 400, "invalid_request"),
            ("/api/rooms/create", {"name": "r", "description": huge}, 400, "invalid_request"),
        ]
        for path, body, status, code in cases:
            reply = self.request("POST", path, json=body, token=token)
            self.assertEqual((reply.code, reply.json()["code"]), (status, code), path)


class EarlyRefusalHygieneTests(SynchronousTestCase):
    """The 413 sent before a body is read carries the same safety headers as the rest."""

    def test_early_413_is_not_cacheable_or_sniffable(self) -> None:
        """A Content-Length over the limit gets a JSON 413 with nosniff and no-store."""
        service, reactor = make_service()
        self.addCleanup(lambda: self.successResultOf(service.stopService()))
        request = (
            b"POST /api/register HTTP/1.1\r\nHost: chat.test\r\nContent-Length: 10000000\r\n\r\n"
        )
        site = service.site()
        client, _, pump = connectedServerAndClient(
            lambda: site.buildProtocol(None), lambda: RawClient(request), greet=False
        )
        pump.flush()
        assert isinstance(client, RawClient)
        answer = parse_http_answer(client.received)
        self.assertEqual(answer.status, 413)
        self.assertEqual(answer.json()["code"], "payload_too_large")
        self.assertEqual(answer.headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(answer.headers.get("cache-control"), "no-store")


class WebSocketHygieneTests(TestCase):
    """The ``/ws`` handshake, accepted or refused."""

    def setUp(self) -> None:
        self.world = memory_world(self)
        self.token, _ = self.world.rest.register("alice")

    def test_huge_integers_in_the_handshake_query_are_400(self) -> None:
        """A roomId or since too long for Python's int parser is a 400, not a 500."""
        headers = {"Authorization": f"Bearer {self.token}"}
        for target in ("/ws?roomId=" + "9" * 5000, "/ws?roomId=1&since=" + "9" * 5000):
            answer = self.world.chat.refusal(target, headers)
            self.assertEqual((answer.status, answer.json()["code"]), (400, "invalid_request"))

    def test_upgrade_answer_carries_no_version(self) -> None:
        """The 101 answer's Server header (if any) names no version number."""
        headers = {"Authorization": f"Bearer {self.token}"}
        answer, _, _ = self.world.chat.raw("/ws?roomId=1", headers)
        self.assertEqual(answer.status, 101)
        server = answer.headers.get("server", "")
        self.assertFalse(any(c.isdigit() for c in server), server)
