"""REST: tickets, health, routing errors, body limits, CORS and response headers.

Register, login and tokens are in ``test_rest_auth``; rooms and history in
``test_rest_rooms`` and ``test_rest_messages``.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from chatservice.errors import StoreUnavailable
from chatservice.http import bearer_token
from chatservice.models import Room
from chatservice.store import IChatStore
from chatservice.store.memory import MemoryStore
from tests.fakes import FakeReactor
from tests.rest_support import PASSWORD, Reply, RestTestCase

LIMIT = 2048


class TicketRouteTests(RestTestCase):
    """``POST /api/ws-ticket``."""

    def setUp(self) -> None:
        super().setUp()
        self.token, self.user_id = self.register("alice")

    def test_ticket_is_201_with_30_second_lifetime(self) -> None:
        """The answer is 201 ``{"ticket": str, "expires_in": 30}``."""
        reply = self.request("POST", "/api/ws-ticket", token=self.token)
        self.assertEqual(reply.code, 201)
        self.assertEqual(reply.header("content-type"), "application/json")
        body = reply.json()
        self.assertEqual(set(body), {"ticket", "expires_in"})
        self.assertEqual(body["expires_in"], 30)
        self.assertIsInstance(body["ticket"], str)
        self.assertGreaterEqual(len(body["ticket"]), 20)

    def test_tickets_are_rate_limited_per_user(self) -> None:
        """A burst of 30 tickets passes; the 31st is 429; another user is unaffected."""
        for _ in range(30):
            self.assertEqual(self.request("POST", "/api/ws-ticket", token=self.token).code, 201)
        reply = self.request("POST", "/api/ws-ticket", token=self.token)
        self.assertEqual(reply.code, 429)
        self.assertEqual(reply.json()["code"], "rate_limited")
        self.assertEqual(reply.header("retry-after"), "1")
        other, _ = self.register("bob")
        self.assertEqual(self.request("POST", "/api/ws-ticket", token=other).code, 201)
        self.reactor.advance(1)
        self.assertEqual(self.request("POST", "/api/ws-ticket", token=self.token).code, 201)

    def test_ticket_stands_for_the_tokens_user_and_expiry(self) -> None:
        """Redeeming the ticket gives the token's user id, name and expiry."""
        ticket = self.request("POST", "/api/ws-ticket", token=self.token).json()["ticket"]
        identity = self.service.tickets.redeem(ticket)
        assert identity is not None
        self.assertEqual((identity.user_id, identity.username), (self.user_id, "alice"))
        self.assertEqual(identity.expires_at, 24 * 3600)

    def test_body_is_ignored(self) -> None:
        """Whatever the body holds, even broken JSON, the answer is 201."""
        for data in (b"", b"{", b"\xff\xfe", b"[1, 2]", b'{"ticket": "mine"}'):
            reply = self.request("POST", "/api/ws-ticket", data=data, token=self.token)
            self.assertEqual(reply.code, 201, data)
            self.assertNotEqual(reply.json()["ticket"], "mine")

    def test_tickets_differ(self) -> None:
        """Every call gives a new ticket."""
        tickets = {
            self.request("POST", "/api/ws-ticket", token=self.token).json()["ticket"]
            for _ in range(5)
        }
        self.assertEqual(len(tickets), 5)

    def test_ticket_needs_a_token(self) -> None:
        """Without a token the answer is 401 and no ticket."""
        self.assert_error(self.request("POST", "/api/ws-ticket"), 401, "unauthorized")


class HealthTests(RestTestCase):
    """``GET /health`` while the store answers."""

    def test_health_is_200_ok(self) -> None:
        """A serving service answers 200 ``{"status": "ok"}`` without authentication."""
        reply = self.request("GET", "/health")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertEqual(reply.json()["status"], "ok")


@implementer(IChatStore)
class UnreachableStore(MemoryStore):
    """A store whose ping fails as a lost database connection would."""

    reachable = True

    def ping(self) -> Deferred[None]:
        if self.reachable:
            return succeed(None)
        return fail(StoreUnavailable())


class UnavailableHealthTests(RestTestCase):
    """``GET /health`` while the store does not answer."""

    def make_store(self, reactor: FakeReactor) -> IChatStore:
        self.store = UnreachableStore(reactor)
        return self.store

    def test_health_is_503_unavailable(self) -> None:
        """A store that cannot be reached makes health 503 ``{"status": "unavailable"}``."""
        self.store.reachable = False
        reply = self.request("GET", "/health")
        self.assertEqual(reply.code, 503)
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertEqual(reply.json()["status"], "unavailable")

    def test_health_recovers(self) -> None:
        """Once the store answers again, health is 200."""
        self.store.reachable = False
        self.assertEqual(self.request("GET", "/health").code, 503)
        self.store.reachable = True
        self.assertEqual(self.request("GET", "/health").code, 200)


class SecretLeakingError(Exception):
    """A server fault whose text must not reach a client."""


@implementer(IChatStore)
class BrokenStore(MemoryStore):
    """A store whose room listing fails with an unexpected exception."""

    def rooms_of(self, user_id: int) -> Deferred[Sequence[Room]]:
        return fail(SecretLeakingError("password=hunter2 at /srv/secret.py line 3"))


class ServerFaultTests(RestTestCase):
    """A handler that raises something unexpected."""

    def make_store(self, reactor: FakeReactor) -> IChatStore:
        return BrokenStore(reactor)

    def test_unexpected_exception_is_500_internal_error(self) -> None:
        """An unexpected exception is a generic 500 ``internal_error`` and is logged."""
        token, _ = self.register("alice")
        reply = self.request("GET", "/api/rooms", token=token)
        self.assert_error(reply, 500, "internal_error")
        self.assertEqual(len(self.flushLoggedErrors(SecretLeakingError)), 1)

    def test_500_body_has_no_detail(self) -> None:
        """Neither the exception's text nor a traceback reaches the client."""
        token, _ = self.register("alice")
        reply = self.request("GET", "/api/rooms", token=token)
        self.flushLoggedErrors(SecretLeakingError)
        for leak in (b"hunter2", b"SecretLeakingError", b"Traceback", b".py", b"<html"):
            self.assertNotIn(leak, reply.body.lower() if leak == b"<html" else reply.body)


class RoutingErrorTests(RestTestCase):
    """Unknown routes and wrong methods."""

    def test_unknown_routes_are_404_json(self) -> None:
        """Any path without a route is 404 ``not_found`` in JSON, inside /api/ or not."""
        # "/" is the web client's page (tests/test_web_files.py).
        # (GET /api/rooms/1 is a 405: PATCH /api/rooms/{room_id} exists.)
        for path in ("/nope", "/api", "/api/", "/api/nope", "/api/rooms/1/nope", "/health/x"):
            self.assert_error(self.request("GET", path), 404, "not_found")
        self.assert_error(self.request("POST", "/api/nope", json={}), 404, "not_found")

    def test_wrong_method_is_405_json_with_allow(self) -> None:
        """A known path asked with the wrong method is 405 with an ``Allow`` header."""
        cases = {
            ("GET", "/api/register"): {"POST"},
            ("PUT", "/api/login"): {"POST"},
            ("DELETE", "/api/rooms"): {"GET", "POST"},
            ("GET", "/api/rooms/create"): {"POST"},
            ("DELETE", "/api/messages"): {"GET", "POST"},
            ("POST", "/api/messages/1"): {"PATCH", "DELETE"},
            ("GET", "/api/messages/1/reactions/ok"): {"PUT", "DELETE"},
            ("POST", "/api/events"): {"GET"},
            ("GET", "/api/ws-ticket"): {"POST"},
            ("POST", "/health"): {"GET"},
        }
        for (method, path), allowed in cases.items():
            reply = self.request(method, path)
            self.assert_error(reply, 405, "method_not_allowed")
            allow = reply.header("allow")
            assert allow is not None, path
            methods = {m.strip() for m in allow.split(",")}
            self.assertEqual(methods - {"HEAD", "OPTIONS"}, allowed, path)

    def test_errors_are_never_html(self) -> None:
        """404 and 405 bodies are JSON, not Twisted's or werkzeug's HTML pages."""
        for method, path in (("GET", "/nope"), ("PATCH", "/api/rooms")):
            reply = self.request(method, path)
            self.assertEqual(reply.header("content-type"), "application/json")
            self.assertNotIn(b"<", reply.body)

    def test_non_utf8_path_is_400_json(self) -> None:
        """A percent-encoded path that is not UTF-8 is a JSON 400, not an HTML page."""
        for path in ("/api/%FF%FE", "/api/rooms/%C3", "/%80"):
            self.assert_error(self.request("GET", path), 400, "invalid_request")

    def test_percent_encoded_utf8_path_is_routed(self) -> None:
        """A percent-encoded UTF-8 path is decoded and routed (here: 404 JSON)."""
        self.assert_error(self.request("GET", "/api/%C3%A9t%C3%A9"), 404, "not_found")
        self.assertEqual(self.request("GET", "/heal%74h").code, 200)


def padded_registration(size: int) -> bytes:
    """A valid registration body padded with spaces to exactly ``size`` bytes."""
    body = b'{"username": "alice", "password": "%s"}' % PASSWORD.encode()
    return body + b" " * (size - len(body))


class BodyLimitTests(RestTestCase):
    """The request-body limit as checked by the root resource and the routes."""

    config_changes = {"max_body_bytes": LIMIT}

    def test_content_length_over_the_limit_is_413(self) -> None:
        """A body one byte over the limit is 413 ``payload_too_large``."""
        reply = self.request("POST", "/api/register", data=padded_registration(LIMIT + 1))
        self.assert_error(reply, 413, "payload_too_large")

    def test_body_at_the_limit_is_accepted(self) -> None:
        """A body of exactly the limit is read and handled."""
        reply = self.request("POST", "/api/register", data=padded_registration(LIMIT))
        self.assertEqual(reply.code, 201, reply.body)

    def test_limit_applies_on_every_route(self) -> None:
        """Authenticated or not, routed or not: a too-large body is 413."""
        token, _ = self.register("bob")
        big = b"{" + b" " * LIMIT + b"}"
        for path in ("/api/login", "/api/rooms", "/api/rooms/create", "/api/ws-ticket"):
            reply = self.request("POST", path, data=big, token=token)
            self.assert_error(reply, 413, "payload_too_large")


class CorsAnyOriginTests(RestTestCase):
    """CORS with ``CORS_ORIGINS=*`` (the default)."""

    def test_any_origin_gets_a_star(self) -> None:
        """Any Origin, ``null`` included, gets ``Access-Control-Allow-Origin: *``."""
        for origin in ("https://app.example", "http://localhost:3000", "null"):
            reply = self.request("GET", "/health", headers={"Origin": origin})
            self.assertEqual(reply.code, 200)
            self.assertEqual(reply.header("access-control-allow-origin"), "*", origin)

    def test_credentials_are_never_allowed(self) -> None:
        """No answer, simple or preflight, carries ``Access-Control-Allow-Credentials``."""
        for method in ("GET", "OPTIONS"):
            reply = self.request(method, "/api/rooms", headers={"Origin": "https://a.example"})
            self.assertIsNone(reply.header("access-control-allow-credentials"), method)

    def test_no_origin_no_cors_headers(self) -> None:
        """A request without Origin (not from a browser) gets no CORS headers."""
        reply = self.request("GET", "/health")
        self.assertIsNone(reply.header("access-control-allow-origin"))

    def test_preflight_is_204_with_methods_and_headers(self) -> None:
        """OPTIONS answers 204 allowing the methods and the Authorization and Content-Type."""
        reply = self.request(
            "OPTIONS",
            "/api/rooms/create",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        self.assertEqual(reply.code, 204)
        self.assertEqual(reply.body, b"")
        self.assertEqual(reply.header("access-control-allow-origin"), "*")
        methods = reply.header("access-control-allow-methods") or ""
        self.assertTrue({"GET", "POST"} <= {m.strip() for m in methods.split(",")}, methods)
        headers = (reply.header("access-control-allow-headers") or "").lower()
        self.assertEqual(
            {h.strip() for h in headers.split(",")} & {"authorization", "content-type"},
            {"authorization", "content-type"},
        )

    def test_errors_carry_cors_headers_too(self) -> None:
        """A browser can read an error answer: 401 and 404 carry the allow-origin header."""
        for path in ("/api/rooms", "/api/nope"):
            reply = self.request("GET", path, headers={"Origin": "https://a.example"})
            self.assertGreaterEqual(reply.code, 400)
            self.assertEqual(reply.header("access-control-allow-origin"), "*", path)


class CorsListTests(RestTestCase):
    """CORS with a list of origins."""

    config_changes = {"cors_origins": ("https://app.example", "http://localhost:3000")}

    def test_allowed_origin_is_echoed_with_vary(self) -> None:
        """An allowed Origin is echoed back, with ``Vary: Origin``."""
        for origin in ("https://app.example", "http://localhost:3000"):
            reply = self.request("GET", "/health", headers={"Origin": origin})
            self.assertEqual(reply.header("access-control-allow-origin"), origin)
            vary = reply.header("vary") or ""
            self.assertIn("origin", vary.lower())
            self.assertIsNone(reply.header("access-control-allow-credentials"))

    def test_disallowed_origin_gets_no_allow_origin(self) -> None:
        """An Origin outside the list gets no ``Access-Control-Allow-Origin``."""
        for origin in ("https://evil.example", "https://app.example.evil", "null"):
            reply = self.request("GET", "/health", headers={"Origin": origin})
            self.assertEqual(reply.code, 200)
            self.assertIsNone(reply.header("access-control-allow-origin"), origin)

    def test_preflight_from_allowed_origin_is_204(self) -> None:
        """A preflight from a listed origin is 204 with the echoed origin."""
        reply = self.request(
            "OPTIONS",
            "/api/rooms",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        self.assertEqual(reply.code, 204)
        self.assertEqual(reply.header("access-control-allow-origin"), "https://app.example")
        self.assertIsNotNone(reply.header("access-control-allow-methods"))

    def test_preflight_from_disallowed_origin_is_403(self) -> None:
        """A preflight from an origin outside the list is 403 ``forbidden`` in JSON."""
        reply = self.request(
            "OPTIONS",
            "/api/rooms",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        self.assert_error(reply, 403, "forbidden")
        self.assertIsNone(reply.header("access-control-allow-origin"))
        self.assertIsNone(reply.header("access-control-allow-methods"))


class SecurityHeaderTests(RestTestCase):
    """Headers every answer carries."""

    def answers(self) -> list[Reply]:
        """A success, a client error, a routing error and a preflight."""
        return [
            self.request("GET", "/health"),
            self.request("GET", "/api/rooms"),
            self.request("GET", "/nope"),
            self.request("DELETE", "/api/rooms"),
            self.request("POST", "/api/register", json={"username": "a", "password": "b"}),
            self.request("OPTIONS", "/api/rooms"),
        ]

    def test_nosniff_everywhere(self) -> None:
        """Every answer says ``X-Content-Type-Options: nosniff``."""
        for reply in self.answers():
            self.assertEqual(reply.header("x-content-type-options"), "nosniff", reply.code)

    def test_no_store_everywhere(self) -> None:
        """Every answer says ``Cache-Control: no-store`` (tokens must not be cached)."""
        for reply in self.answers():
            self.assertEqual(reply.header("cache-control"), "no-store", reply.code)

    def test_server_header_does_not_name_twisted(self) -> None:
        """The Server header does not advertise Twisted or its version."""
        for reply in self.answers():
            server = reply.headers.getRawHeaders("server") or []
            self.assertEqual(len(server), 1)
            self.assertNotIn("twisted", server[0].lower())


class FakeRequest:
    """Just enough of a request for ``bearer_token``."""

    def __init__(self, authorization: bytes | None) -> None:
        self._authorization = authorization

    def getHeader(self, name: bytes) -> bytes | None:
        return self._authorization if name == b"authorization" else None


class BearerTokenTests(RestTestCase):
    """Reading the token out of an ``Authorization`` header."""

    def token_of(self, header: bytes | None) -> str | None:
        return bearer_token(FakeRequest(header))

    def test_schemes_and_bare_tokens(self) -> None:
        """``Bearer``, any case, or none at all; surrounding blanks do not count."""
        for header in (b"Bearer abc", b"bearer abc", b"BEARER abc", b"abc", b"  Bearer   abc  "):
            self.assertEqual(self.token_of(header), "abc", header)

    def test_no_token(self) -> None:
        """No header, an empty one, or a scheme alone give no token."""
        for header in (None, b"", b"   ", b"Bearer", b"Bearer   "):
            self.assertIsNone(self.token_of(header), header)
