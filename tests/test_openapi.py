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
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from chatservice.openapi import DOCUMENT
from chatservice.rest import ChatAPI
from chatservice.revocation import REFRESH_SECONDS
from tests.openapi_support import (
    METHODS,
    ConformanceCase,
    at,
    escape,
    follow,
    pointer,
    validator_at,
)
from tests.rest_support import PASSWORD, RestTestCase

# Served, but not REST: the WebSocket endpoint is described in API.md.
NOT_REST = {("GET", "/ws")}


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
                if path.startswith("/api/files/") and status in ("200", "206", "304"):
                    # A file's own bytes (and a 304's none): its type is found in them.
                    self.assertLessEqual(set(resolved.get("content", {})), {"*/*"})
                    continue
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


class ConformanceTests(ConformanceCase):
    """Real answers of every operation, checked against the document."""

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
        _, mallory = self.register("mallory")
        self.successResultOf(self.store.set_disabled(mallory, 1))
        status, reply = self.call(
            "POST", target, json={"username": "mallory", "password": PASSWORD}
        )
        self.assertEqual((status, reply.json()["code"]), ("403", "account_disabled"))
        for _ in range(4):
            self.call("POST", target, json={"username": "alice", "password": "wrong one"})
        self.assert_every_documented_status_was_seen("POST", target)

    def test_list_rooms_conforms(self) -> None:
        """``GET /api/rooms``: 200, 401, 413, 503 as documented."""
        target = "/api/rooms"
        self.call("GET", target)
        self.call("GET", target, auth=False)
        self.disabled("GET", target)
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
        self.disabled("POST", target, json={"name": "Lobby 4"})
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
        self.disabled("GET", "/api/messages?roomId=1")
        self.call("GET", "/api/messages?roomId=1", data=self.too_big())
        self.store_down("GET", "/api/messages?roomId=1")
        self.assert_every_documented_status_was_seen("GET", "/api/messages")

    def test_ws_ticket_conforms(self) -> None:
        """``POST /api/ws-ticket``: 201, 401, 413, 429, 503 as documented."""
        target = "/api/ws-ticket"
        self.call("POST", target)
        self.call("POST", target, json={"ignored": True})
        self.call("POST", target, auth=False)
        self.disabled("POST", target)
        self.call("POST", target, data=self.too_big())
        for _ in range(30):  # past the per-user ticket burst
            self.call("POST", target)
        # The route reads the store only for an account it must read again.
        self.reactor.advance(REFRESH_SECONDS)
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
