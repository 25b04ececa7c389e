"""The OpenAPI 3.1 document: served, well formed, complete, and true of real answers.

Every operation is driven through its documented answers (good input, bad
input, no token, too big, rate limited, store down) and each real response
is checked against the document: its status must be one the operation
documents, its body must validate against the documented schema, and its
documented headers must be there. Each operation must also reach every
status it documents, so the document cannot promise what never happens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from chatservice.access_models import Member
from chatservice.errors import StoreUnavailable
from chatservice.models import Credentials, Message, NewMessage, Posted, Room, User
from chatservice.openapi import DOCUMENT
from chatservice.rest import ChatAPI
from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity
from tests.fakes import FakeReactor
from tests.rest_support import PASSWORD, Reply, RestTestCase

DOC_URI = "urn:chatservice:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOCUMENT))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Served, but not REST: the WebSocket endpoint is described in API.md.
NOT_REST = {("GET", "/ws")}


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


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of the document."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def schema_locations(value: Any = DOCUMENT, location: str = "") -> Iterator[str]:
    """JSON pointers of every Schema Object in the document (not nested ones)."""
    if isinstance(value, dict):
        for key, child in value.items():
            here = f"{location}/{escape(key)}"
            if key == "schema" and isinstance(child, dict):
                yield here
            elif location == "/components/schemas":
                yield here
            else:
                yield from schema_locations(child, here)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from schema_locations(child, f"{location}/{index}")


def refs(value: Any = DOCUMENT) -> Iterator[str]:
    """Every ``$ref`` in the document."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "$ref" and isinstance(child, str):
                yield child
            else:
                yield from refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from refs(child)


def served_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every Klein route, without the HEAD werkzeug adds to each GET."""
    return {
        # werkzeug writes a path parameter <name>, OpenAPI {name}.
        (method, re.sub(r"<(?:int:)?([a-z_]+)>", r"{\1}", rule.rule))
        for rule in ChatAPI.app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


class DocumentTests(RestTestCase):
    """``GET /api/openapi.json`` and the shape of the document."""

    def test_document_is_served_as_json_without_a_token(self) -> None:
        """The route answers 200 ``application/json`` with exactly the document."""
        reply = self.request("GET", "/api/openapi.json")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertEqual(reply.json(), json.loads(json.dumps(DOCUMENT)))

    def test_document_is_openapi_3_1(self) -> None:
        """The version is 3.1.x, and info, paths and components are present."""
        self.assertRegex(DOCUMENT["openapi"], r"^3\.1\.\d+$")
        self.assertTrue(DOCUMENT["info"]["title"])
        self.assertTrue(DOCUMENT["info"]["version"])
        self.assertTrue(DOCUMENT["paths"])
        self.assertIn("schemas", DOCUMENT["components"])

    def test_every_schema_is_a_valid_json_schema_2020_12(self) -> None:
        """Each Schema Object (components, parameters, bodies, responses, headers) checks out."""
        locations = list(schema_locations())
        self.assertGreater(len(locations), 20)
        for location in locations:
            with self.subTest(location=location):
                Draft202012Validator.check_schema(at(location))

    def test_every_ref_resolves(self) -> None:
        """Every ``$ref`` points at something in the document."""
        for ref in set(refs()):
            self.assertTrue(ref.startswith("#/"), ref)
            self.assertIsInstance(at(ref[1:]), dict, ref)

    def test_every_operation_is_described_and_answers_json(self) -> None:
        """Unique operationIds, a description for every response, JSON content only."""
        ids = [operation["operationId"] for _, _, operation in operations()]
        self.assertEqual(len(ids), len(set(ids)))
        for method, path, operation in operations():
            self.assertTrue(operation["responses"], (method, path))
            for status, response in operation["responses"].items():
                resolved, _ = follow(response, "")
                self.assertTrue(resolved.get("description"), (method, path, status))
                self.assertEqual(set(resolved.get("content", {})), {"application/json"})

    def test_security_schemes_used_are_defined(self) -> None:
        """Every security requirement names a defined scheme."""
        schemes = set(DOCUMENT["components"]["securitySchemes"])
        for _, _, operation in operations():
            for requirement in operation.get("security", []):
                self.assertLessEqual(set(requirement), schemes)

    def test_every_served_route_is_documented_and_vice_versa(self) -> None:
        """The Klein app's routes (the WebSocket aside) and the document's operations agree."""
        documented = {(method, path) for method, path, _ in operations()}
        self.assertEqual(served_routes() - NOT_REST, documented)
        self.assertLessEqual(NOT_REST, served_routes())


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


class ConformanceTests(RestTestCase):
    """Real answers of every operation, checked against the document."""

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
        path = urlsplit(target).path
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

    def store_down(self, method: str, target: str, **kwargs: Any) -> None:
        """With the store unreachable the operation answers 503."""
        self.store.down = True
        try:
            status, _ = self.call(method, target, **kwargs)
        finally:
            self.store.down = False
        self.assertEqual(status, "503")

    def test_register_conforms(self) -> None:
        """``POST /api/register``: 201, 400, 409, 413, 429, 503 as documented."""
        target = "/api/register"
        self.call("POST", target, json={"username": "bob", "password": "€€€"})
        self.call("POST", target, json={"username": "b", "password": PASSWORD})
        self.call("POST", target, data=b"{")
        self.call("POST", target, json={"username": "ALICE", "password": PASSWORD})
        self.call("POST", target, data=self.too_big())
        self.store_down("POST", target, json={"username": "carol", "password": PASSWORD})
        for n in range(6):
            self.call("POST", target, json={"username": f"user{n}", "password": PASSWORD})
        self.assert_every_documented_status_was_seen("POST", target)

    def test_login_conforms(self) -> None:
        """``POST /api/login``: 200, 400, 401, 413, 429, 503 as documented."""
        target = "/api/login"
        self.call("POST", target, json={"username": "alice", "password": PASSWORD})
        self.call("POST", target, json={"username": 1, "password": PASSWORD})
        self.call("POST", target, data=b"")
        self.call("POST", target, data=self.too_big())
        self.store_down("POST", target, json={"username": "alice", "password": PASSWORD})
        for _ in range(4):
            self.call("POST", target, json={"username": "alice", "password": "wrong one"})
        self.assert_every_documented_status_was_seen("POST", target)

    def test_list_rooms_conforms(self) -> None:
        """``GET /api/rooms``: 200, 401, 413, 503 as documented."""
        target = "/api/rooms"
        self.call("GET", target)
        self.call("GET", target, auth=False)
        self.call("GET", target, data=self.too_big())
        self.store_down("GET", target)
        self.assert_every_documented_status_was_seen("GET", target)

    def room_creation_conforms(self, target: str) -> None:
        self.call("POST", target, json={"name": "Lobby", "description": "a room"})
        self.call("POST", target, json={"name": "No description"})
        self.call("POST", target, json={"name": "Null description", "description": None})
        self.call("POST", target, json={"name": "lobby"})
        self.call("POST", target, json={"name": ""})
        self.call("POST", target, json=["Lobby"])
        self.call("POST", target, json={"name": "Lobby 2"}, auth=False)
        self.call("POST", target, data=self.too_big())
        self.store_down("POST", target, json={"name": "Lobby 3"})
        self.assert_every_documented_status_was_seen("POST", target)

    def test_create_room_conforms(self) -> None:
        """``POST /api/rooms/create``: 201, 400, 401, 409, 413, 503 as documented."""
        self.room_creation_conforms("/api/rooms/create")

    def test_create_room_alias_conforms(self) -> None:
        """``POST /api/rooms``: the same answers as ``/api/rooms/create``."""
        self.room_creation_conforms("/api/rooms")

    def test_history_conforms(self) -> None:
        """``GET /api/messages``: 200, 400, 401, 404, 413, 503 as documented."""
        for query in ("roomId=1", "roomId=1&limit=1&before=2", "room_id=1&after=0&limit=500"):
            self.call("GET", f"/api/messages?{query}")
        for query in ("", "roomId=x", "roomId=1&limit=0", "roomId=1&before=1&after=1"):
            self.call("GET", f"/api/messages?{query}")
        self.call("GET", "/api/messages?roomId=999")
        self.call("GET", f"/api/messages?roomId={self.banned_from()}")
        self.call("GET", "/api/messages?roomId=1", auth=False)
        self.call("GET", "/api/messages?roomId=1", data=self.too_big())
        self.store_down("GET", "/api/messages?roomId=1")
        self.assert_every_documented_status_was_seen("GET", "/api/messages")

    def test_ws_ticket_conforms(self) -> None:
        """``POST /api/ws-ticket``: 201, 401, 413, 429, 503 as documented."""
        target = "/api/ws-ticket"
        self.call("POST", target)
        self.call("POST", target, json={"ignored": True})
        self.call("POST", target, auth=False)
        self.call("POST", target, data=self.too_big())
        for _ in range(30):  # past the per-user ticket burst
            self.call("POST", target)
        self.store_down("POST", target)
        self.assert_every_documented_status_was_seen("POST", target)

    def test_health_conforms(self) -> None:
        """``GET /health``: 200 and 503 as documented, 413 for a body too big."""
        self.call("GET", "/health", auth=False)
        self.store_down("GET", "/health", auth=False)
        self.call("GET", "/health", auth=False, data=self.too_big())
        self.assert_every_documented_status_was_seen("GET", "/health")

    def test_openapi_conforms(self) -> None:
        """``GET /api/openapi.json``: 200, and 413 for a body too big."""
        self.call("GET", "/api/openapi.json", auth=False)
        self.call("GET", "/api/openapi.json", auth=False, data=self.too_big())
        self.assert_every_documented_status_was_seen("GET", "/api/openapi.json")


class AcceptedInputTests(RestTestCase):
    """What the server accepts, the document must call valid (no false promises of a 4xx)."""

    def assert_documented_valid(self, method: str, path: str, body: Any) -> None:
        location = pointer(
            "paths", path, method.lower(), "requestBody", "content", "application/json", "schema"
        )
        errors = [e.message for e in validator_at(location).iter_errors(body)]
        self.assertEqual(errors, [], (path, body))

    def test_accepted_registrations_are_valid_per_the_document(self) -> None:
        """Registrations at the edges of the rules (bytes, not characters) conform."""
        for body in (
            {"username": "abc", "password": "€€€"},  # 9 bytes in 3 characters
            {"username": "A" * 32, "password": "€" * 24},  # 72 bytes
            {"username": "a_b.c-9", "password": "12345678"},
            {"username": "emoji", "password": "😀😀"},  # 8 bytes in 2 characters
        ):
            reply = self.request("POST", "/api/register", json=body)
            self.assertEqual(reply.code, 201, (body, reply.body))
            self.assert_documented_valid("POST", "/api/register", body)
            self.assert_documented_valid("POST", "/api/login", body)

    def test_accepted_rooms_are_valid_per_the_document(self) -> None:
        """Room names and descriptions at their limits conform."""
        token, _ = self.register("alice")
        for body in (
            {"name": "n" * 64},
            {"name": "x", "description": "d" * 512},
            {"name": "no description", "description": None},
            {"name": "名前" * 32},
        ):
            reply = self.request("POST", "/api/rooms", json=body, token=token)
            self.assertEqual(reply.code, 201, (body, reply.body))
            self.assert_documented_valid("POST", "/api/rooms", body)
