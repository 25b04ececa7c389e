"""What the OpenAPI conformance tests share: the document's schemas, a case that checks answers.

``ConformanceCase.call`` sends one request and checks the answer's status,
body and headers against what the operation documents; each test then
checks that every documented status was reached (``test_openapi.py`` for
the original routes, ``test_openapi_accounts.py`` for issue 11's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from chatservice.access_models import Member
from chatservice.errors import StoreUnavailable
from chatservice.models import Account, Credentials, Message, NewMessage, Posted, Room, User
from chatservice.openapi import DOCUMENT
from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity
from tests.fakes import FakeReactor
from tests.rest_support import Reply, RestTestCase

DOC_URI = "urn:chatservice:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOCUMENT))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def escape(part: str) -> str:
    """Escape one JSON-pointer reference token."""
    return part.replace("~", "~0").replace("/", "~1")


def pointer(*parts: str) -> str:
    """A JSON pointer into the document."""
    return "".join("/" + escape(part) for part in parts)


def at(location: str) -> Any:
    """The value of the document at a JSON pointer."""
    value: Any = DOCUMENT
    for part in location.split("/")[1:]:
        token = part.replace("~1", "/").replace("~0", "~")
        value = value[int(token)] if isinstance(value, list) else value[token]
    return value


def follow(obj: dict[str, Any], location: str) -> tuple[dict[str, Any], str]:
    """Follow an OpenAPI ``$ref`` (to a component) if ``obj`` is one."""
    ref = obj.get("$ref")
    if ref is None:
        return obj, location
    assert ref.startswith("#/"), ref
    return at(ref[1:]), ref[1:]


def validator_at(location: str) -> Draft202012Validator:
    """A validator for the schema at ``location``, resolving ``$ref``s in the document."""
    return Draft202012Validator({"$ref": f"{DOC_URI}#{location}"}, registry=REGISTRY)


def document_path(path: str) -> str:
    """The document's path (``/api/messages/{message_id}``) that a real path matches."""
    if path in DOCUMENT["paths"]:
        return path
    templated: str
    for templated in DOCUMENT["paths"]:
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(templated))
        if re.fullmatch(pattern, path):
            return templated
    raise KeyError(path)


@implementer(IChatStore)
class SwitchableStore(MemoryStore):
    """A memory store that answers ``StoreUnavailable`` to everything while ``down``."""

    down = False

    def _unavailable(self) -> Deferred[Any] | None:
        return fail(StoreUnavailable()) if self.down else None

    def ping(self) -> Deferred[None]:
        return self._unavailable() or super().ping()

    def create_user(self, username: str, password_hash: bytes, created_at: int) -> Deferred[User]:
        return self._unavailable() or super().create_user(username, password_hash, created_at)

    def get_user(self, user_id: int) -> Deferred[User]:
        return self._unavailable() or super().get_user(user_id)

    def get_credentials(self, username: str) -> Deferred[Credentials]:
        return self._unavailable() or super().get_credentials(username)

    def create_room(self, *args: Any, **kwargs: Any) -> Deferred[Room]:
        return self._unavailable() or super().create_room(*args, **kwargs)

    def get_member(self, room_id: int, user_id: int) -> Deferred[Member | None]:
        return self._unavailable() or super().get_member(room_id, user_id)

    def get_room_and_member(
        self, room_id: int, user_id: int
    ) -> Deferred[tuple[Room, Member | None]]:
        return self._unavailable() or super().get_room_and_member(room_id, user_id)

    def rooms_of(self, user_id: int) -> Deferred[Sequence[Room]]:
        return self._unavailable() or super().rooms_of(user_id)

    def get_room(self, room_id: int) -> Deferred[Room]:
        return self._unavailable() or super().get_room(room_id)

    def list_rooms(self) -> Deferred[Sequence[Room]]:
        return self._unavailable() or super().list_rooms()

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        return self._unavailable() or super().add_messages(messages)

    def get_messages(
        self, room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[Message]]:
        return self._unavailable() or super().get_messages(room_id, limit, before, after)

    def get_accounts(self, user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, Account]]:
        return self._unavailable() or super().get_accounts(user_ids, now)

    def list_accounts(
        self, query: str | None, after: int, limit: int, admins_only: bool = False
    ) -> Deferred[Sequence[Account]]:
        return self._unavailable() or super().list_accounts(query, after, limit, admins_only)

    def revoke_session(
        self, user_id: int, session: str, expires_at: int, now: int
    ) -> Deferred[Account]:
        return self._unavailable() or super().revoke_session(user_id, session, expires_at, now)

    def revoke_all_sessions(self, user_id: int) -> Deferred[Account]:
        return self._unavailable() or super().revoke_all_sessions(user_id)

    def set_password(self, user_id: int, password_hash: bytes) -> Deferred[Account]:
        return self._unavailable() or super().set_password(user_id, password_hash)

    def set_disabled(self, user_id: int, disabled_at: int | None) -> Deferred[Account]:
        return self._unavailable() or super().set_disabled(user_id, disabled_at)

    def delete_account(self, user_id: int, deleted_at: int) -> Deferred[Account]:
        return self._unavailable() or super().delete_account(user_id, deleted_at)


class ConformanceCase(RestTestCase):
    """Sends requests and checks each real answer against the document (no tests of its own)."""

    config_changes: ClassVar[dict[str, Any]] = {
        "max_body_bytes": 2048,
        "register_limit": 5,
        "login_failure_limit": 3,
    }

    def make_store(self, reactor: FakeReactor) -> IChatStore:
        self.store = SwitchableStore(reactor)
        return self.store

    def setUp(self) -> None:
        super().setUp()
        self.seen: set[str] = set()
        self.token, self.user_id = self.register("alice")
        identity = Identity(self.user_id, "alice", expires_at=10**9)
        for n, client_msg_id in enumerate((None, "first-try")):
            self.run_coroutine(
                self.service.messages.post(identity, 1, f"message {n}", client_msg_id)
            )

    def call(
        self, method: str, target: str, *, auth: bool = True, **kwargs: Any
    ) -> tuple[str, Reply]:
        """Send one request and check its answer against the document; return the status."""
        token = self.token if auth else None
        reply = self.request(method, target, token=token, **kwargs)
        path = document_path(urlsplit(target).path)
        operation_location = pointer("paths", path, method.lower())
        operation = at(operation_location)
        status = str(reply.code)
        self.assertIn(status, operation["responses"], f"{method} {target}: {reply.body!r}")
        response, location = follow(
            operation["responses"][status], f"{operation_location}/responses/{status}"
        )
        for media in response.get("content", {}):
            self.assertEqual(reply.header("content-type"), media, (method, target, status))
            schema_at = f"{location}/content/{escape(media)}/schema"
            errors = [e.message for e in validator_at(schema_at).iter_errors(reply.json())]
            self.assertEqual(errors, [], (method, target, status, reply.body))
        for name, header in response.get("headers", {}).items():
            value = reply.header(name)
            if value is None:
                self.assertFalse(header.get("required"), (method, target, status, name))
                continue
            header_at = f"{location}/headers/{escape(name)}/schema"
            parsed: Any = int(value) if value.lstrip("-").isdigit() else value
            errors = [e.message for e in validator_at(header_at).iter_errors(parsed)]
            self.assertEqual(errors, [], (method, target, status, name, value))
        self.seen.add(status)
        return status, reply

    def assert_every_documented_status_was_seen(self, method: str, path: str) -> None:
        """The operation reached each status it documents, and (see ``call``) no other."""
        documented = set(at(pointer("paths", path, method.lower()))["responses"])
        self.assertEqual(self.seen, documented)

    def too_big(self) -> bytes:
        return b"{" + b" " * 4096 + b"}"

    def banned_from(self) -> int:
        """A public room of bob's that alice is banned from (her reads are 403)."""
        bob, _ = self.register("bob")
        room = self.request("POST", "/api/rooms", token=bob, json={"name": "Bob's"}).json()
        ban = {"user_id": self.user_id}
        self.request("POST", f"/api/rooms/{room['id']}/ban", token=bob, json=ban)
        room_id: int = room["id"]
        return room_id

    def disabled(self, method: str, target: str, **kwargs: Any) -> None:
        """With the token of a disabled account the operation answers 403 ``account_disabled``."""
        token, user_id = self.register(f"mallory{len(self.seen)}")
        self.successResultOf(self.store.set_disabled(user_id, 1))
        saved, self.token = self.token, token
        try:
            status, reply = self.call(method, target, **kwargs)
        finally:
            self.token = saved
        self.assertEqual((status, reply.json()["code"]), ("403", "account_disabled"))

    def store_down(self, method: str, target: str, **kwargs: Any) -> None:
        """With the store unreachable the operation answers 503."""
        self.store.down = True
        try:
            status, _ = self.call(method, target, **kwargs)
        finally:
            self.store.down = False
        self.assertEqual(status, "503")
