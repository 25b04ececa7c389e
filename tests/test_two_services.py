"""Two complete services on one PostgreSQL database and one Redis behave as one service.

Each service has its own port, store pool, hub and cluster, as two
processes (or hosts) would; only PostgreSQL and Redis are shared. Clients
on either see the same conversation in the same order, and the per-user
rules (socket limit, message rate, presence, single-use tickets) hold for
the pair, not for each.

Presence is checked without waiting for time to pass: service B's cluster
decisions, its message-rate checks and its publishes each run in order on
one Redis connection, so a marker message sent through B after a socket
closed on B arrives after any presence frame that close caused.

Needs ``CHAT_TEST_POSTGRES`` and ``CHAT_TEST_REDIS``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.control import CONTROL_ROOM
from chatservice.wire import CredentialsForm
from tests.test_redishub import _unique_prefix
from tests.two_services import TwoServices, bearer
from tests.wsclient import RecordingClient, close_tcp, connect_tcp, join_tcp

BURST = 40


MAX_SOCKETS = 2


class TwoServicesTests(TwoServices, TestCase):
    """Clients of either service share one conversation and one set of rules."""

    settings: ClassVar[dict[str, Any]] = {
        "message_burst": BURST,
        "message_rate": 0.01,
        "max_sockets_per_user": MAX_SOCKETS,
    }

    async def setup_pair(self) -> None:
        """Services A and B; alice and bob registered; alice on A, bob on B, in room 1."""
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        prefix = _unique_prefix()
        self.a, self.port_a = await self.start_service(prefix)
        self.b, self.port_b = await self.start_service(prefix)
        accounts = self.a.accounts
        self.alice = (await accounts.register(CredentialsForm("alice", "pw-123456"))).token
        self.bob = (await accounts.register(CredentialsForm("bob", "pw-123456"))).token
        self.carol = (await accounts.register(CredentialsForm("carol", "pw-123456"))).token
        self.alice_a = await join_tcp(self, reactor, self.port_a, self.alice)
        await self.hubs[0].subscribe(1)
        self.bob_b = await join_tcp(self, reactor, self.port_b, self.bob)
        await self.hubs[1].subscribe(1)

    async def marker_through_b(self, text: str) -> None:
        """Carol says ``text`` through B; wait until alice (on A) has it."""
        carol = await join_tcp(self, reactor, self.port_b, self.carol)
        carol.send_json({"content": text})
        while (await self.alice_a.next_of("message"))["content"] != text:
            pass
        await close_tcp(carol)

    def bob_presence(self) -> list[str]:
        """The statuses of bob that alice has seen, in order."""
        return [f["status"] for f in self.alice_a.of_type("presence") if f["username"] == "bob"]

    async def test_each_receives_in_order_what_the_other_sends_and_history_agrees(self) -> None:
        """30 messages from bob on B reach alice on A once, in id order; both histories agree."""
        await self.setup_pair()
        for n in range(30):
            self.bob_b.send_json({"content": f"m{n}"})
        received = [await self.alice_a.next_of("message") for _ in range(30)]
        self.assertEqual([f["content"] for f in received], [f"m{n}" for n in range(30)])
        ids = [f["id"] for f in received]
        self.assertEqual(ids, sorted(ids))
        history_a = await self.history(self.port_a)
        self.assertEqual([m["id"] for m in history_a], ids)
        self.assertEqual(await self.history(self.port_b), history_a)

    async def test_the_message_rate_is_counted_once_for_both(self) -> None:
        """Alice sends 25 through A and 25 through B: BURST are stored, the rest refused."""
        await self.setup_pair()
        alice_b = await join_tcp(self, reactor, self.port_b, self.alice)
        for n in range(25):
            self.alice_a.send_json({"content": f"a{n}", "client_msg_id": f"a{n}"})
            alice_b.send_json({"content": f"b{n}", "client_msg_id": f"b{n}"})
        refused_a = await self.outcomes(self.alice_a, "a", 25)
        refused_b = await self.outcomes(alice_b, "b", 25)
        self.assertEqual(refused_a + refused_b, 50 - BURST)
        self.assertEqual(len(await self.history(self.port_a)), BURST)

    async def outcomes(self, client: RecordingClient, tag: str, count: int) -> int:
        """Wait for ``count`` answers to ``client``'s sends (tagged ``tag``); how many refused."""
        answered: dict[str, str] = {}
        while len(answered) < count:
            frame = await client.inbox.get()
            msg_id = str(frame.get("client_msg_id") or "")
            if frame["type"] == "error" and msg_id.startswith(tag):
                self.assertEqual(frame["code"], "rate_limited")
                answered[msg_id] = "refused"
            elif frame["type"] == "message" and msg_id.startswith(tag):
                answered[msg_id] = "stored"
        return sum(outcome == "refused" for outcome in answered.values())

    async def test_presence_is_the_first_and_last_socket_on_either(self) -> None:
        """Bob online once while on A, B or both; offline once, when his last socket closes."""
        await self.setup_pair()
        while self.bob_presence() != ["online"]:
            await self.alice_a.next_of("presence")
        bob_a = await join_tcp(self, reactor, self.port_a, self.bob)  # bob on both now
        await close_tcp(self.bob_b)  # his socket on B closes; he is still on A
        await self.marker_through_b("after-b")
        self.assertEqual(self.bob_presence(), ["online"])
        await close_tcp(bob_a)
        while self.bob_presence() != ["online", "offline"]:
            await self.alice_a.next_of("presence")
        await self.marker_through_b("after-a")
        self.assertEqual(self.bob_presence(), ["online", "offline"])

    async def test_the_socket_limit_and_tickets_hold_across_both(self) -> None:
        """Bob's third socket is refused on either; a ticket from A opens a socket on B, once."""
        await self.setup_pair()
        bob_a = await join_tcp(self, reactor, self.port_a, self.bob)
        for port in (self.port_a, self.port_b):
            answer = await self.http_get(
                f"http://127.0.0.1:{port}/ws?roomId=1",
                headers={
                    "Authorization": f"Bearer {self.bob}",
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version": "13",
                },
            )
            self.assertEqual(answer.code, 429)
            body = json.loads(await answer.content())
            self.assertEqual(body["code"], "rate_limited")
        await close_tcp(bob_a)
        bearer: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {self.bob}"}
        answer = await treq.post(
            f"http://127.0.0.1:{self.port_a}/api/ws-ticket", headers=bearer, pool=self.pool
        )
        ticket = json.loads(await answer.content())["ticket"]
        opened = await connect_tcp(reactor, self.port_b, f"/ws?roomId=1&ticket={ticket}")
        self.addCleanup(close_tcp, opened)
        self.assertTrue(opened.ws_open)
        again = await self.http_get(f"http://127.0.0.1:{self.port_a}/ws?roomId=1&ticket={ticket}")
        self.assertEqual(again.code, 401)

    async def http_get(self, url: str, **kwargs: Any) -> Any:
        """GET over a connection of its own, closed with the answer (a clean reactor)."""
        return await treq.get(url, pool=self.pool, **kwargs)

    async def test_a_control_event_from_one_closes_a_socket_on_the_other(self) -> None:
        """A kick decided on A closes bob's socket on B with the code A chose."""
        await self.setup_pair()
        await self.hubs[1].subscribe(CONTROL_ROOM)
        bob_id = (await self.a.accounts.authenticate(self.bob)).user_id
        self.a.sockets.control.close_sockets(4003, "removed", user_id=bob_id, room_id=1)
        self.assertEqual(await self.bob_b.closed, 4003)
        self.assertTrue(self.alice_a.ws_open)

    async def test_a_kick_on_one_closes_the_socket_on_the_other(self) -> None:
        """Alice's room; bob's socket in it is on B; alice kicks him through A: 4003 on B."""
        await self.setup_pair()
        await self.hubs[1].subscribe(CONTROL_ROOM)
        bob_id = (await self.a.accounts.authenticate(self.bob)).user_id
        created = await treq.post(
            f"http://127.0.0.1:{self.port_a}/api/rooms",
            json={"name": "Lobby"},
            headers=bearer(self.alice),
            pool=self.pool,
        )
        room_id = json.loads(await created.content())["id"]
        bob = await connect_tcp(
            reactor, self.port_b, f"/ws?roomId={room_id}", {"Authorization": f"Bearer {self.bob}"}
        )
        self.addCleanup(close_tcp, bob)
        kicked = await treq.post(
            f"http://127.0.0.1:{self.port_a}/api/rooms/{room_id}/kick",
            json={"user_id": bob_id},
            headers=bearer(self.alice),
            pool=self.pool,
        )
        self.assertEqual(kicked.code, 200)
        await kicked.content()
        self.assertEqual(await bob.closed, 4003)

    async def test_a_mention_and_a_read_marker_on_one_reach_the_user_on_the_other(self) -> None:
        """Alice mentions bob through A, he marks it read through A: his socket on B hears both."""
        await self.setup_pair()
        self.alice_a.send_json({"content": "hello @bob"})
        note = await self.bob_b.next_of("notification")
        self.assertEqual((note["reason"], note["room_id"]), ("mention", 1))
        marked = await treq.post(
            f"http://127.0.0.1:{self.port_a}/api/rooms/1/read",
            json={"last_read_id": note["message_id"]},
            headers=bearer(self.bob),
            pool=self.pool,
        )
        self.assertEqual(marked.code, 200)
        counts = json.loads(await marked.content())
        self.assertEqual((counts["unread"], counts["mention_count"]), (0, 0))
        moved = await self.bob_b.next_of("read_marker")
        self.assertEqual(moved, {"type": "read_marker", **counts})

    async def history(self, port: int) -> list[dict[str, Any]]:
        """Room 1's history as service ``port`` answers it over HTTP."""
        answer = await self.http_get(
            f"http://127.0.0.1:{port}/api/messages?roomId=1&limit=100",
            headers={"Authorization": f"Bearer {self.alice}"},
        )
        self.assertEqual(answer.code, 200)
        history: list[dict[str, Any]] = json.loads(await answer.content())
        return history
