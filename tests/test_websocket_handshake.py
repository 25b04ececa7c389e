"""The /ws handshake, in memory, through both of the service's doors.

Through the real Site, Klein route and WebSocketResource (what a host's
``Site`` mounting ``resource()`` serves), and again (the ``Direct`` classes)
through ``upgrade_router``, as the service's own ports serve it: every
answer must be the same.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from chatservice.logs import make_observer
from tests.wsclient import WS_KEY, HttpAnswer, handshake_request, memory_world

JSON = "application/json"


class HandshakeTestCase(TestCase):
    """Shared set-up: a service, one registered user, helpers for refusals."""

    changes: dict[str, Any] = {}
    # Through the service's own ports' door (``upgrade_router``), not the Site's.
    direct = False

    def setUp(self) -> None:
        self.world = memory_world(self, direct=self.direct, **self.changes)
        self.token, self.user_id = self.world.rest.register("alice")

    def refused(self, target: str, headers: dict[str, str] | None = None) -> HttpAnswer:
        return self.world.chat.refusal(target, headers)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def assert_json_error(self, answer: HttpAnswer, status: int, code: str) -> None:
        self.assertEqual(answer.status, status)
        self.assertEqual(answer.headers.get("content-type"), JSON)
        body = answer.json()
        self.assertEqual(body["code"], code)
        self.assertIsInstance(body["error"], str)


class RefusalTests(HandshakeTestCase):
    """Refused handshakes are plain HTTP answers with a JSON error body."""

    def test_missing_room_id_is_400(self) -> None:
        """A handshake without roomId is a 400 with a JSON body."""
        self.assert_json_error(self.refused("/ws", self.bearer()), 400, "invalid_request")

    def test_non_integer_room_id_is_400(self) -> None:
        """A roomId that is not a positive integer is a 400."""
        for bad in ("abc", "1.5", "-1", "0", ""):
            with self.subTest(room_id=bad):
                answer = self.refused(f"/ws?roomId={bad}", self.bearer())
                self.assert_json_error(answer, 400, "invalid_request")

    def test_non_integer_since_is_400(self) -> None:
        """A since that is not an integer is a 400."""
        answer = self.refused("/ws?roomId=1&since=abc", self.bearer())
        self.assert_json_error(answer, 400, "invalid_request")

    def test_unknown_room_is_404(self) -> None:
        """A roomId naming no room is a 404."""
        self.assert_json_error(self.refused("/ws?roomId=999", self.bearer()), 404, "not_found")

    def test_room_id_alias_is_accepted(self) -> None:
        """room_id is accepted as an alias of roomId."""
        client = self.world.chat.connect("/ws?room_id=1", self.bearer())
        self.assertTrue(client.ws_open)

    def test_no_token_is_401(self) -> None:
        """A handshake with no header, ticket or token is a 401."""
        self.assert_json_error(self.refused("/ws?roomId=1"), 401, "unauthorized")

    def test_bad_token_is_401(self) -> None:
        """A forged or malformed token is a 401, in the header or the query."""
        self.assert_json_error(
            self.refused("/ws?roomId=1", {"Authorization": "Bearer not.a.jwt"}),
            401,
            "unauthorized",
        )
        self.assert_json_error(self.refused("/ws?roomId=1&token=not.a.jwt"), 401, "unauthorized")

    def test_expired_token_is_401(self) -> None:
        """A token past its expiry is a 401 token_expired."""
        self.world.reactor.advance(self.world.service.config.jwt_expiry_seconds + 1)
        answer = self.refused("/ws?roomId=1", self.bearer())
        self.assert_json_error(answer, 401, "token_expired")

    def test_used_ticket_is_401(self) -> None:
        """A ticket works once; the second handshake with it is a 401."""
        ticket = self.world.rest.ticket(self.token)
        client = self.world.chat.connect(f"/ws?roomId=1&ticket={ticket}")
        self.assertTrue(client.ws_open)
        self.assert_json_error(self.refused(f"/ws?roomId=1&ticket={ticket}"), 401, "unauthorized")

    def test_expired_ticket_is_401(self) -> None:
        """A ticket is refused 31 seconds after it was issued."""
        ticket = self.world.rest.ticket(self.token)
        self.world.reactor.advance(31)
        self.assert_json_error(self.refused(f"/ws?roomId=1&ticket={ticket}"), 401, "unauthorized")

    def test_unknown_ticket_is_401(self) -> None:
        """A ticket that was never issued is a 401."""
        self.assert_json_error(self.refused("/ws?roomId=1&ticket=nonsense"), 401, "unauthorized")

    def test_failed_handshake_uses_up_the_ticket(self) -> None:
        """A ticket is used up by the first handshake even when that one is refused."""
        ticket = self.world.rest.ticket(self.token)
        self.assert_json_error(self.refused(f"/ws?roomId=999&ticket={ticket}"), 404, "not_found")
        self.assert_json_error(self.refused(f"/ws?roomId=1&ticket={ticket}"), 401, "unauthorized")

    def test_a_malformed_upgrade_uses_up_the_ticket_too(self) -> None:
        """Refused by Autobahn itself (a bad ``Sec-WebSocket-Key``), the ticket is still spent.

        On the route the gate spends it before Autobahn reads the upgrade; on
        the ports' door Autobahn reads the upgrade before the gate is asked.
        """
        ticket = self.world.rest.ticket(self.token)
        request = handshake_request(f"/ws?roomId=1&ticket={ticket}").replace(
            WS_KEY, b"not-a-websocket-key-at-all"
        )
        answer, client, _ = self.world.chat.raw_bytes(request)
        self.assertEqual(answer.status, 400)
        self.assertNotIn(ticket.encode("ascii"), client.received)
        self.assert_json_error(self.refused(f"/ws?roomId=1&ticket={ticket}"), 401, "unauthorized")

    def test_plain_get_is_426_json(self) -> None:
        """A GET /ws without Upgrade is a JSON 426, not Autobahn's HTML status page."""
        answer = self.world.chat.refusal("/ws?roomId=1", self.bearer(), upgrade=False)
        self.assert_json_error(answer, 426, "upgrade_required")
        self.assertNotIn(b"<html", answer.body.lower())

    def test_refusal_body_carries_no_token(self) -> None:
        """A refusal answer never echoes the query string back."""
        answer = self.refused(f"/ws?roomId=999&token={self.token}")
        self.assertNotIn(self.token.encode("ascii"), answer.body)


class AuthenticationTests(HandshakeTestCase):
    """Every documented way of presenting a token opens the socket as that user."""

    def assert_opens_as_alice(self, target: str, headers: dict[str, str] | None = None) -> None:
        client = self.world.chat.connect(target, headers)
        self.assertTrue(client.ws_open)
        (presence,) = client.of_type("presence")
        self.assertEqual((presence["user_id"], presence["username"]), (self.user_id, "alice"))

    def test_bearer_header_opens(self) -> None:
        """Authorization: Bearer <jwt> opens the socket."""
        self.assert_opens_as_alice("/ws?roomId=1", self.bearer())

    def test_bearer_scheme_is_case_insensitive(self) -> None:
        """The Bearer scheme may be written in any case."""
        self.assert_opens_as_alice("/ws?roomId=1", {"Authorization": f"bEaReR {self.token}"})

    def test_bare_header_opens(self) -> None:
        """A bare Authorization: <jwt> header opens the socket."""
        self.assert_opens_as_alice("/ws?roomId=1", {"Authorization": self.token})

    def test_ticket_opens(self) -> None:
        """ticket=<ticket> opens the socket as the ticket's user."""
        ticket = self.world.rest.ticket(self.token)
        self.assert_opens_as_alice(f"/ws?roomId=1&ticket={quote(ticket)}")

    def test_query_token_opens(self) -> None:
        """token=<jwt> opens the socket."""
        self.assert_opens_as_alice(f"/ws?roomId=1&token={self.token}")

    def test_header_wins_over_bad_ticket(self) -> None:
        """With a valid header, a bad ticket in the query is ignored."""
        self.assert_opens_as_alice("/ws?roomId=1&ticket=bogus", self.bearer())

    def test_header_wins_over_bad_query_token(self) -> None:
        """With a valid header, a bad token in the query is ignored."""
        self.assert_opens_as_alice("/ws?roomId=1&token=bogus", self.bearer())

    def test_bad_header_is_not_rescued_by_good_query_token(self) -> None:
        """The header wins even when it is the bad one."""
        answer = self.refused(
            f"/ws?roomId=1&token={self.token}", {"Authorization": "Bearer forged"}
        )
        self.assert_json_error(answer, 401, "unauthorized")

    def test_token_of_deleted_user_is_401(self) -> None:
        """A validly signed token whose user does not exist is a 401."""
        other = memory_world(self)  # same signing key, its own users
        other.rest.register("bob")
        carol_token, carol_id = other.rest.register("carol")
        self.assertNotEqual(carol_id, self.user_id)  # no user carol_id exists here
        self.assert_json_error(
            self.refused("/ws?roomId=1", {"Authorization": f"Bearer {carol_token}"}),
            401,
            "unauthorized",
        )


class OriginTests(HandshakeTestCase):
    """With CORS_ORIGINS a list, the WebSocket Origin check follows it."""

    changes = {"cors_origins": ("https://chat.example.com",)}

    def test_foreign_origin_is_403(self) -> None:
        """An Origin outside CORS_ORIGINS is a 403."""
        headers = {**self.bearer(), "Origin": "https://evil.example.com"}
        self.assert_json_error(self.refused("/ws?roomId=1", headers), 403, "forbidden")

    def test_listed_origin_opens(self) -> None:
        """An Origin in CORS_ORIGINS opens the socket."""
        client = self.world.chat.connect(
            "/ws?roomId=1", self.bearer(), origin="https://chat.example.com"
        )
        self.assertTrue(client.ws_open)

    def test_no_origin_opens(self) -> None:
        """A handshake without Origin (a non-browser client) is allowed."""
        answer, _, _ = self.world.chat.raw("/ws?roomId=1", self.bearer())
        self.assertEqual(answer.status, 101)

    def test_null_origin_is_403(self) -> None:
        """The literal Origin null is refused unless CORS_ORIGINS lists it."""
        headers = {**self.bearer(), "Origin": "null"}
        self.assert_json_error(self.refused("/ws?roomId=1", headers), 403, "forbidden")


class LoggingTests(HandshakeTestCase):
    """Nothing of a ``/ws`` query string reaches the log, whatever Autobahn makes of it."""

    def test_a_request_line_autobahn_cannot_split_is_not_quoted(self) -> None:
        """Autobahn splits a request line on any Unicode white space, twisted.web on spaces.

        A raw no-break space (0xA0) in the target passes twisted.web and the gate;
        Autobahn then refuses the request line, quoting it, token and all, in
        its answer and in its warning.
        """
        out = io.StringIO()
        observer = make_observer("debug", "text", out)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        target = f"/ws?roomId=1&token={self.token}&x=\xa0y"
        answer, client, _ = self.world.chat.raw_bytes(handshake_request(target))
        self.assertEqual(answer.status, 400)
        self.assertNotIn(self.token.encode("ascii"), client.received)
        log = out.getvalue()
        self.assertIn("dropping connection", log)  # the warning is there, without the query
        for secret in (self.token, "roomId=", "token="):
            self.assertNotIn(secret, log)
        self.assertEqual(self.world.service.sockets.sockets_of(self.user_id), 0)


class DirectRefusalTests(RefusalTests):
    """``RefusalTests`` through the ports' door."""

    direct = True


class DirectAuthenticationTests(AuthenticationTests):
    """``AuthenticationTests`` through the ports' door."""

    direct = True


class DirectOriginTests(OriginTests):
    """``OriginTests`` through the ports' door."""

    direct = True


class DirectLoggingTests(LoggingTests):
    """``LoggingTests`` through the ports' door."""

    direct = True
