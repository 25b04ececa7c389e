"""Shared set-up for the REST test modules: an in-memory service behind StubTreq."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jwt
from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from chatservice.service import ChatService
from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from tests.fakes import (
    TEST_SECRET,
    FakeReactor,
    ImmediateThreadPool,
    config_for_tests,
    settle,
)

BASE = "http://chat.test"
PASSWORD = "correct horse battery"
_NO_JSON = object()


# API.md's Message, and this service's additions (docs/protocol.md).
MESSAGE_KEYS = {
    *("type", "id", "room_id", "sender_id", "username", "content", "ts"),
    *("reply_to", "reply_preview", "edited_at", "deleted", "reactions", "mentions"),
}


@dataclass(frozen=True)
class Reply:
    """A response read to the end: status, headers and body bytes."""

    code: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """Return the first value of a response header, or None."""
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None


def forge(claims: Mapping[str, Any], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    """Sign arbitrary claims, the way an attacker or a buggy client would."""
    with warnings.catch_warnings():
        # HS384/HS512 want longer keys than the test secret; that is beside the point.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(dict(claims), key, algorithm=algorithm)


def alice_claims(user_id: int, now: int, **changes: Any) -> dict[str, Any]:
    """Claims like the service's own for alice, with some changed or (None) removed."""
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "username": "alice",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


class RestTestCase(SynchronousTestCase):
    """A started in-memory ChatService and a StubTreq client for its resource."""

    config_changes: ClassVar[dict[str, Any]] = {}

    def make_store(self, reactor: FakeReactor) -> IChatStore:
        """The store the service runs on; subclasses swap in a faulty one."""
        return MemoryStore(reactor)

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.service = ChatService(
            config_for_tests(**self.config_changes),
            self.reactor,
            store=self.make_store(self.reactor),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        self.service.startService()
        self.successResultOf(self.service.ready)
        self.addCleanup(lambda: self.successResultOf(self.service.stopService()))
        self.client: Any = StubTreq(self.service.resource())  # methods are made at runtime

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _NO_JSON,
        data: bytes | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        token: str | None = None,
    ) -> Reply:
        """Send one request through the in-memory agent and read the answer."""
        all_headers: dict[str, Any] = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if json is not _NO_JSON:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        answered = self.client.request(method, BASE + path, **kwargs)
        # A post is committed at the end of the reactor's turn; what the
        # handler writes then is carried to the client by a flush.
        settle(self.reactor)
        self.client.flush()
        response = self.successResultOf(answered)
        body = self.successResultOf(response.content())
        return Reply(response.code, response.headers, body)

    def register(self, username: str = "alice", password: str = PASSWORD) -> tuple[str, int]:
        """Register an account; return its token and user id."""
        reply = self.request(
            "POST", "/api/register", json={"username": username, "password": password}
        )
        self.assertEqual(reply.code, 201, reply.body)
        body = reply.json()
        return body["token"], body["user"]["id"]

    def assert_error(self, reply: Reply, status: int, code: str) -> dict[str, Any]:
        """Assert a JSON error answer: the status, the code, and nothing but error+code."""
        self.assertEqual(reply.header("content-type"), "application/json", reply.body)
        body = reply.json()
        self.assertEqual((reply.code, body.get("code")), (status, code), body)
        self.assertEqual(set(body), {"error", "code"})
        self.assertIsInstance(body["error"], str)
        return dict(body)

    def run_coroutine(self, coroutine: Any) -> Any:
        """Run a use-case coroutine that completes within the reactor's turn; return its result."""
        done = ensureDeferred(coroutine)
        settle(self.reactor)
        return self.successResultOf(done)
