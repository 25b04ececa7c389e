"""Realtime rules of the WebSocket: idempotent sends, typing, presence, liveness, expiry, limits.

In memory through the real Site, Klein route and Autobahn, on one fake
clock that also drives Autobahn's timers; one test class restarts a service
on a SQLite file over real TCP.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from chatservice.config import Config
from chatservice.service import ChatService
from chatservice.websocket import CLOSE_POLICY_VIOLATION, TYPING_RATE
from chatservice.wire import CredentialsForm
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.realtime_support import (
    RealtimeCase,
    TransportRecorder,
)
from tests.wsclient import (
    RecordingClient,
    close_tcp,
    join_tcp,
    no_pumping,
    serve_tcp,
    server_frames,
)

OPCODE_PING = 0x9


def contents(client: RecordingClient) -> list[str]:
    """The content of every message frame a client received."""
    return [frame["content"] for frame in client.of_type("message")]


class IdempotentSendTests(RealtimeCase):
    """A repeated client_msg_id stores nothing and re-delivers the original to its sender only."""

    def test_resend_on_a_new_socket_goes_to_that_socket_only(self) -> None:
        """After a reconnect, a resent client_msg_id gives the original to the new socket only."""
        first = self.connect(self.alice)
        self.send(first, {"content": "hello", "client_msg_id": "m-1"})
        (original,) = first.of_type("message")
        self.close(first)
        again = self.connect(self.alice)
        other_tab = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.send(again, {"content": "hello (retry)", "client_msg_id": "m-1"})
        self.assertEqual(again.of_type("message"), [original])
        self.assertEqual(other_tab.of_type("message"), [])
        self.assertEqual(bob.of_type("message"), [])
        self.assertEqual(self.stored_ids(), [original["id"]])
        self.assertEqual(self.stored()[0].content, "hello")

    def test_same_client_msg_id_of_another_user_is_a_new_message(self) -> None:
        """Bob reusing alice's client_msg_id stores and broadcasts a new message."""
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.send(alice, {"content": "from alice", "client_msg_id": "m-1"})
        self.send(bob, {"content": "from bob", "client_msg_id": "m-1"})
        self.assertEqual(contents(alice), ["from alice", "from bob"])
        self.assertEqual([m.content for m in self.stored()], ["from alice", "from bob"])

    def test_same_client_msg_id_in_another_room_is_a_new_message(self) -> None:
        """The same user's client_msg_id in another room is a different message."""
        other = self.world.rest.create_room(self.alice, "Other")
        here = self.connect(self.alice)
        there = self.connect(self.alice, other)
        self.send(here, {"content": "here", "client_msg_id": "m-1"})
        self.send(there, {"content": "there", "client_msg_id": "m-1"})
        self.assertEqual(contents(here), ["here"])
        self.assertEqual(contents(there), ["there"])
        self.assertEqual([m.content for m in self.stored(other)], ["there"])


class IdempotencyAcrossRestartTests(TestCase):
    """On a durable store, a client_msg_id is remembered across a service restart."""

    timeout = 30

    def setUp(self) -> None:
        path = os.path.abspath(self.mktemp())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.config = config_for_tests(
            listen=("tcp:0:interface=127.0.0.1",), database_url=f"sqlite:///{path}"
        )

    async def start(self, config: Config) -> tuple[ChatService, int]:
        service = ChatService(
            config,
            reactor,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        return service, await serve_tcp(self, service)

    async def join(self, port: int, token: str) -> RecordingClient:
        return await join_tcp(self, reactor, port, token)

    async def test_resend_after_restart_returns_the_original(self) -> None:
        """After a restart on SQLite, a resend stores nothing and only its sender gets it."""
        service, port = await self.start(self.config)
        alice_token = (
            await service.accounts.register(CredentialsForm("alice", "pw-123456"))
        ).token
        bob_token = (await service.accounts.register(CredentialsForm("bob", "pw-123456"))).token
        alice = await self.join(port, alice_token)
        alice.send_json({"content": "hello", "client_msg_id": "m-1"})
        original = await alice.next_of("message")
        await close_tcp(alice)
        await service.stopService()

        service, port = await self.start(self.config)
        alice = await self.join(port, alice_token)
        bob = await self.join(port, bob_token)
        alice.send_json({"content": "hello again", "client_msg_id": "m-1"})
        self.assertEqual(await alice.next_of("message"), original)
        bob.send_json({"content": "marker"})
        self.assertEqual((await bob.next_of("message"))["content"], "marker")
        self.assertEqual((await alice.next_of("message"))["content"], "marker")
        stored = await service.store.get_messages(1, 10)
        self.assertEqual([m.content for m in stored], ["hello", "marker"])
        self.assertEqual(stored[0].id, original["id"])


class TypingTests(RealtimeCase):
    """Typing notices reach the others, are never stored, and are rate-limited."""

    changes = {"message_burst": 2, "message_rate": 1.0}

    def test_typing_reaches_the_others_only_and_is_not_stored(self) -> None:
        """A typing frame goes to every other socket of the room, not the sender, and no store."""
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.send(alice, {"type": "typing"})
        self.assertEqual(
            bob.of_type("typing"),
            [{"type": "typing", "room_id": 1, "user_id": self.alice_id, "username": "alice"}],
        )
        self.assertEqual(alice.of_type("typing"), [])
        self.assertEqual(self.stored(), [])

    def test_typing_past_the_burst_is_dropped_until_the_bucket_refills(self) -> None:
        """Past TYPING_RATE's burst, notices are dropped silently; a second later one passes."""
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        for _ in range(TYPING_RATE.burst + 2):
            self.send(alice, {"type": "typing"})
        self.assertEqual(len(bob.of_type("typing")), TYPING_RATE.burst)
        self.assertEqual(alice.of_type("error"), [])
        self.world.chat.advance(1 / TYPING_RATE.per_second)
        self.send(alice, {"type": "typing"})
        self.send(alice, {"type": "typing"})
        self.assertEqual(len(bob.of_type("typing")), TYPING_RATE.burst + 1)
        self.assertTrue(alice.ws_open)

    def test_typing_does_not_spend_the_message_rate(self) -> None:
        """Typing notices have their own bucket: messages still pass after many of them."""
        alice = self.connect(self.alice)
        for _ in range(5):
            self.send(alice, {"type": "typing"})
        self.say(alice, 2)
        self.assertEqual(len(self.stored()), 2)
        self.assertEqual(alice.of_type("error"), [])


class PresenceTests(RealtimeCase):
    """One online per user when their first socket opens, one offline after the last closes."""

    def presence(self, client: RecordingClient) -> list[tuple[str, str]]:
        return [(f["username"], f["status"]) for f in client.of_type("presence")]

    def test_three_tabs_are_one_online_and_offline_after_the_third_closes(self) -> None:
        """Three sockets of alice: one online; offline only once all three are gone."""
        bob = self.connect(self.bob)
        tabs = [self.connect(self.alice) for _ in range(3)]
        self.assertEqual(self.presence(bob), [("bob", "online"), ("alice", "online")])
        self.close(tabs[0])
        tab_1 = tabs[1].transport
        assert tab_1 is not None
        tab_1.loseConnection()  # dropped without a close handshake
        self.world.chat.flush()
        self.assertEqual(self.presence(bob), [("bob", "online"), ("alice", "online")])
        self.close(tabs[2])
        self.assertEqual(
            self.presence(bob), [("bob", "online"), ("alice", "online"), ("alice", "offline")]
        )
        (offline,) = [f for f in bob.of_type("presence") if f["status"] == "offline"]
        self.assertEqual(
            offline,
            {
                "type": "presence",
                "room_id": 1,
                "user_id": self.alice_id,
                "username": "alice",
                "status": "offline",
            },
        )


class LivenessTests(RealtimeCase):
    """With WS_PING_INTERVAL/TIMEOUT set, a peer that stops answering pings is dropped."""

    changes = {"ws_ping_interval": 20.0, "ws_ping_timeout": 10.0}

    def test_peer_that_answers_pings_stays_open(self) -> None:
        """An idle peer that answers every ping is open after ten intervals, and was pinged."""
        transports = TransportRecorder()
        alice = self.connect(self.alice, server_transport=transports)
        for _ in range(20):
            self.world.chat.advance(10)
        self.assertTrue(alice.ws_open)
        frames = server_frames(b"".join(transports.last.written).partition(b"\r\n\r\n")[2])
        self.assertGreaterEqual([opcode for opcode, _ in frames].count(OPCODE_PING), 5)
        self.send(alice, {"content": "still here"})
        self.assertEqual(contents(alice), ["still here"])

    def test_peer_that_stops_answering_is_dropped_after_interval_and_timeout(self) -> None:
        """A peer that answered before but goes silent is dropped 10 s after the unanswered ping.

        It is pinged at most 20 s (the interval) after it went silent, so it
        is gone within interval + timeout.
        """
        alice = self.connect(self.alice)
        bob = self.connect(self.bob)
        for _ in range(5):
            self.world.chat.advance(10)  # pings answered
        self.assertTrue(alice.ws_open)
        pump = alice.pump
        assert pump is not None
        clock = self.world.reactor
        silent_at = clock.seconds()
        pinged_at: float | None = None
        dropped_at: float | None = None
        with no_pumping(self.world.chat, pump):
            while dropped_at is None and clock.seconds() < silent_at + 40:
                self.world.chat.advance(0.2)
                written = server_frames(b"".join(pump.serverIO.stream))
                if pinged_at is None and OPCODE_PING in [opcode for opcode, _ in written]:
                    pinged_at = clock.seconds()
                if pump.serverIO.disconnecting:
                    dropped_at = clock.seconds()
        assert pinged_at is not None and dropped_at is not None
        self.assertLessEqual(pinged_at - silent_at, 20.0 + 0.2)
        self.assertAlmostEqual(dropped_at - pinged_at, 10.0, delta=0.41)  # 0.2 s timer buckets
        self.world.chat.flush()
        self.assertFalse(alice.ws_open)
        self.assertEqual(bob.of_type("presence")[-1]["status"], "offline")
        self.assertTrue(bob.ws_open)
        self.assertEqual(self.world.service.sockets.sockets_of(self.alice_id), 0)


class TokenExpiryTests(RealtimeCase):
    """A socket is closed with 1008 when the token it was opened with expires."""

    changes = {"jwt_expiry_seconds": 3600}

    def assert_closed_for_expiry(self, client: RecordingClient) -> None:
        self.assertFalse(client.ws_open)
        self.assertEqual(client.close_code, CLOSE_POLICY_VIOLATION)
        self.assertEqual(client.remoteCloseReason, "token expired")

    def test_socket_closes_with_1008_when_its_token_expires(self) -> None:
        """Open half a second before the token's exp; closed with 1008 at exp."""
        self.world.chat.advance(1000)  # the token was issued at 0: it expires at 3600
        alice = self.connect(self.alice)
        status, session = self.world.rest.call(
            "POST", "/api/login", body={"username": "bob", "password": "password-1"}
        )
        self.assertEqual(status, 200)
        bob = self.connect(session["token"])  # a token that expires at 4600
        self.world.chat.advance(2599.5)
        self.assertTrue(alice.ws_open)
        self.assertIsNone(alice.close_code)
        self.world.chat.advance(0.5)
        self.assert_closed_for_expiry(alice)
        self.assertEqual(bob.of_type("presence")[-1]["status"], "offline")
        self.assertEqual(self.world.service.sockets.sockets_of(self.alice_id), 0)

    def test_ticket_socket_closes_when_the_token_behind_the_ticket_expires(self) -> None:
        """A socket opened with a ticket closes at the expiry of the token that asked for it."""
        self.world.chat.advance(1000)
        ticket = self.world.rest.ticket(self.alice)
        alice = self.world.chat.connect(f"/ws?roomId=1&ticket={ticket}")
        self.assertTrue(alice.ws_open)
        self.world.chat.advance(2599.5)
        self.assertTrue(alice.ws_open)
        self.world.chat.advance(0.5)
        self.assert_closed_for_expiry(alice)


class MessageRateTests(RealtimeCase):
    """MESSAGE_BURST frames pass; the next is refused with an error frame until refill."""

    changes = {"message_burst": 5, "message_rate": 1.0}

    def test_burst_passes_and_the_next_is_rate_limited(self) -> None:
        """The sixth of six quick messages gets error rate_limited with its client_msg_id."""
        alice = self.connect(self.alice)
        for n in range(6):
            alice.send_json({"content": f"m-{n}", "client_msg_id": f"c-{n}"})
        self.world.chat.flush()
        self.assertEqual(contents(alice), [f"m-{n}" for n in range(5)])
        (error,) = alice.of_type("error")
        self.assertEqual(
            (error["code"], error["client_msg_id"], type(error["error"])),
            ("rate_limited", "c-5", str),
        )
        self.assertEqual(len(self.stored()), 5)
        self.assertTrue(alice.ws_open)

    def test_rate_limited_client_msg_id_can_be_sent_again_later(self) -> None:
        """A client_msg_id refused by the rate limit was not used: sent later, it is stored."""
        alice = self.connect(self.alice)
        for n in range(6):
            alice.send_json({"content": f"m-{n}", "client_msg_id": f"c-{n}"})
        self.world.chat.flush()
        self.world.chat.advance(1)
        self.send(alice, {"content": "m-5", "client_msg_id": "c-5"})
        self.assertEqual(contents(alice), [f"m-{n}" for n in range(6)])
        self.assertEqual(alice.of_type("message")[-1]["client_msg_id"], "c-5")
        self.assertEqual(len(self.stored()), 6)

    def test_rate_is_per_user_across_sockets_and_spares_other_users(self) -> None:
        """Alice's two sockets share one bucket; bob's own is untouched."""
        tab_1 = self.connect(self.alice)
        tab_2 = self.connect(self.alice)
        bob = self.connect(self.bob)
        self.say(tab_1, 3, "one")
        self.say(tab_2, 3, "two")
        self.assertEqual([e["code"] for e in tab_2.of_type("error")], ["rate_limited"])
        self.assertEqual(tab_1.of_type("error"), [])
        self.say(bob, 5, "bob")
        self.assertEqual(bob.of_type("error"), [])
        self.assertEqual(len(self.stored()), 10)

    def test_sending_works_again_after_the_bucket_refills(self) -> None:
        """After one second one more message passes; after five, a whole burst."""
        alice = self.connect(self.alice)
        self.say(alice, 6, "burst")
        self.world.chat.advance(1)
        self.say(alice, 2, "after-1s")
        self.world.chat.advance(5)
        self.say(alice, 5, "after-5s")
        self.assertEqual(len(alice.of_type("error")), 2)
        self.assertEqual(len(self.stored()), 5 + 1 + 5)
        self.assertEqual(contents(alice)[5:], ["after-1s-0", *(f"after-5s-{n}" for n in range(5))])


class ConnectionLimitTests(RealtimeCase):
    """MAX_SOCKETS_PER_USER sockets at once; the next handshake is a 429."""

    changes = {"max_sockets_per_user": 3}

    def refused(self, token: str) -> Any:
        return self.world.chat.refusal("/ws?roomId=1", {"Authorization": f"Bearer {token}"})

    def test_socket_past_the_limit_is_refused_429_with_retry_after(self) -> None:
        """With three sockets open (any rooms), alice's fourth handshake is a JSON 429."""
        other = self.world.rest.create_room(self.alice, "Other")
        self.connect(self.alice)
        self.connect(self.alice)
        self.connect(self.alice, other)
        answer = self.refused(self.alice)
        self.assertEqual(answer.status, 429)
        self.assertEqual(answer.headers.get("content-type"), "application/json")
        self.assertEqual(answer.json()["code"], "rate_limited")
        self.assertGreaterEqual(int(answer.headers["retry-after"]), 1)
        self.connect(self.bob)  # another user is not affected

    def test_closing_or_dropping_a_socket_frees_its_slot(self) -> None:
        """A clean close and a dropped connection each free one slot."""
        sockets = [self.connect(self.alice) for _ in range(3)]
        self.assertEqual(self.refused(self.alice).status, 429)
        self.close(sockets[0])
        sockets[0] = self.connect(self.alice)
        self.assertEqual(self.refused(self.alice).status, 429)
        dropped = sockets[1].transport
        assert dropped is not None
        dropped.loseConnection()
        self.world.chat.flush()
        self.connect(self.alice)
        self.assertEqual(self.refused(self.alice).status, 429)

    def test_refused_handshakes_take_no_slot(self) -> None:
        """Handshakes refused for other reasons (unknown room) do not count."""
        for _ in range(5):
            answer = self.world.chat.refusal(
                "/ws?roomId=999", {"Authorization": f"Bearer {self.alice}"}
            )
            self.assertEqual(answer.status, 404)
        for _ in range(3):
            self.connect(self.alice)
        self.assertEqual(self.world.service.sockets.sockets_of(self.alice_id), 3)
