"""ChatService: start-up, graceful shutdown, and one smoke test on a real TCP port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.trial.unittest import TestCase

from chatservice.models import NewMessage, Posted
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.wire import CredentialsForm
from tests.fakes import FakeReactor, ImmediateThreadPool, config_for_tests
from tests.wsclient import (
    MemoryWorld,
    RawClient,
    RecordingClient,
    connect_tcp,
    join_tcp,
    memory_world,
    serve_tcp,
    server_frames,
)

CLOSE_GOING_AWAY = 1001
OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8


class GatedStore(MemoryStore):
    """A MemoryStore whose commits can be held back, as if the database were slow."""

    def __init__(self, clock: FakeReactor) -> None:
        super().__init__(clock)
        self.clock = clock
        self.holding = False
        self.closed = False
        self._held: list[tuple[Deferred[Sequence[Posted]], Sequence[NewMessage]]] = []

    def add_messages(self, messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        if not self.holding:
            return super().add_messages(messages)
        committed: Deferred[Sequence[Posted]] = Deferred()
        self._held.append((committed, messages))
        return committed

    def release(self) -> None:
        """Commit everything held back, in order."""
        held, self._held = self._held, []
        for committed, messages in held:
            super().add_messages(messages).chainDeferred(committed)

    def close(self) -> Deferred[None]:
        self.closed = True
        return super().close()


def last_events(client: RecordingClient, count: int) -> list[tuple[str, Any]]:
    """The client's last events as (frame, type) or (close, code)."""
    return [
        (kind, value if kind == "close" else value["type"])
        for kind, value in client.events[-count:]
    ]


class ShutdownTests(TestCase):
    """stopService delivers what was accepted, closes sockets with 1001, and ends."""

    def setUp(self) -> None:
        self.store = GatedStore(FakeReactor())
        self.world: MemoryWorld = memory_world(self, store=self.store, shutdown_timeout=1.0)
        self.alice, _ = self.world.rest.register("alice")
        self.bob, _ = self.world.rest.register("bob")

    def join(self, token: str) -> RecordingClient:
        return self.world.chat.open(token)

    def send_held(self, client: RecordingClient, content: str) -> None:
        """Send a message whose commit the store holds until ``release``."""
        self.store.holding = True
        client.send_json({"content": content})
        self.world.chat.flush()

    def test_accepted_message_is_delivered_before_close_1001(self) -> None:
        """A message still being stored at shutdown reaches every socket before its 1001."""
        alice, bob = self.join(self.alice), self.join(self.bob)
        self.send_held(alice, "last words")
        self.assertEqual(alice.of_type("message"), [])

        stopped = self.world.service.stopService()
        self.world.chat.flush()
        self.assertNoResult(stopped)
        self.assertTrue(alice.ws_open)
        self.assertTrue(bob.ws_open)

        self.store.release()
        self.world.chat.flush()
        for client in (alice, bob):
            self.assertEqual(
                [
                    (kind, value if kind == "close" else value["type"])
                    for kind, value in client.events[-2:]
                ],
                [("frame", "message"), ("close", CLOSE_GOING_AWAY)],
            )
            self.assertEqual(client.of_type("message")[0]["content"], "last words")
            self.assertFalse(client.ws_open)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertTrue(self.store.closed)

    def test_every_socket_is_closed_with_1001(self) -> None:
        """Every open socket, of every room and user, gets close code 1001."""
        room = self.world.rest.create_room(self.bob, "Other")
        clients = [self.join(self.alice), self.join(self.alice), self.join(self.bob)]
        clients.append(
            self.world.chat.connect(f"/ws?roomId={room}", {"Authorization": f"Bearer {self.bob}"})
        )
        stopped = self.world.service.stopService()
        self.world.chat.flush()
        self.assertEqual([c.close_code for c in clients], [CLOSE_GOING_AWAY] * 4)
        self.assertIsNone(self.successResultOf(stopped))

    def test_stop_without_sockets_fires_at_once(self) -> None:
        """With no socket open, stopService's Deferred fires without waiting."""
        self.assertIsNone(self.successResultOf(self.world.service.stopService()))
        self.assertTrue(self.store.closed)

    def test_frames_during_shutdown_are_refused(self) -> None:
        """Once stopping, a new message gets an error frame and is not stored."""
        alice, bob = self.join(self.alice), self.join(self.bob)
        self.send_held(alice, "accepted")
        stopped = self.world.service.stopService()
        bob.send_json({"content": "too late", "client_msg_id": "late-1"})
        self.world.chat.flush()
        (error,) = bob.of_type("error")
        self.assertEqual(error["client_msg_id"], "late-1")
        self.store.release()
        self.world.chat.flush()
        self.successResultOf(stopped)
        history = self.successResultOf(self.store.get_messages(1, 10))
        self.assertEqual([m.content for m in history], ["accepted"])

    def test_handshake_during_shutdown_is_refused(self) -> None:
        """A WebSocket handshake that arrives while the service drains is a JSON 503."""
        alice = self.join(self.alice)
        self.send_held(alice, "accepted")
        stopped = self.world.service.stopService()
        answer = self.world.chat.refusal("/ws?roomId=1", {"Authorization": f"Bearer {self.bob}"})
        self.assertEqual((answer.status, answer.json()["code"]), (503, "store_unavailable"))
        self.store.release()
        self.world.chat.flush()
        self.assertIsNone(self.successResultOf(stopped))

    def test_handshake_after_stop_is_refused(self) -> None:
        """A stopped service opens no new socket (a host Site may still route to it)."""
        self.successResultOf(self.world.service.stopService())
        answer = self.world.chat.refusal("/ws?roomId=1", {"Authorization": f"Bearer {self.bob}"})
        self.assertEqual(answer.status, 503)

    def test_silent_socket_is_dropped_after_shutdown_timeout(self) -> None:
        """A socket that never answers the close frame is dropped after shutdown_timeout."""
        answer, raw, pump = self.world.chat.raw(
            "/ws?roomId=1", {"Authorization": f"Bearer {self.alice}"}
        )
        self.assertEqual(answer.status, 101)
        stopped = self.world.service.stopService()
        self.world.chat.flush()
        self.world.chat.advance(0.9)
        self.assertNoResult(stopped)
        self.assertFalse(pump.serverIO.disconnecting)

        self.world.chat.advance(0.1)
        self.assertTrue(pump.serverIO.disconnecting)
        self.assertIsNone(self.successResultOf(stopped))
        frames = server_frames(raw.received.partition(b"\r\n\r\n")[2])
        opcode, payload = frames[-1]
        self.assertEqual(opcode, OPCODE_CLOSE)
        self.assertEqual(int.from_bytes(payload[:2], "big"), CLOSE_GOING_AWAY)

    def test_store_that_never_commits_does_not_hang_shutdown(self) -> None:
        """A commit that never finishes delays shutdown by at most shutdown_timeout."""
        alice = self.join(self.alice)
        self.send_held(alice, "stuck")
        stopped = self.world.service.stopService()
        self.world.chat.advance(1.0)
        self.assertEqual(alice.close_code, CLOSE_GOING_AWAY)
        self.assertIsNone(self.successResultOf(stopped))
        self.store.release()  # a late commit is not delivered to a closed socket
        self.world.chat.flush()
        self.assertEqual(alice.of_type("message"), [])

    def test_a_rest_post_whose_commit_never_ends_does_not_fail_the_stop(self) -> None:
        """A commit no socket waits for (a REST post) outlasts shutdown_timeout: the store closes.

        The drain has nothing to wait for, so the committer's close is what
        times out (``addTimeout``'s own ``TimeoutError``), and the stop must
        still end well, with the store closed.
        """
        self.store.holding = True
        stub: Any = self.world.rest.treq  # StubTreq builds its methods at run time
        stub.request(
            "POST",
            "http://chat.test/api/messages",
            headers={"Authorization": f"Bearer {self.alice}"},
            json={"room_id": 1, "content": "stuck over REST"},
        )
        self.world.rest.treq.flush()
        stopped = self.world.service.stopService()
        self.world.chat.advance(1.0)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertTrue(self.store.closed)


class SiteTests(TestCase):
    """The service's Site runs on the service's reactor."""

    def test_idle_http_connection_times_out_on_the_service_clock(self) -> None:
        """An HTTP connection that sends nothing is closed by the Site's timeout on our clock."""
        world = memory_world(self)
        raw = RawClient(b"")
        _, pump = world.chat._connect(lambda: raw)
        timeout = world.service.site().timeOut
        assert timeout is not None
        world.chat.advance(timeout - 1)
        self.assertFalse(pump.serverIO.disconnecting)
        world.chat.advance(1)
        self.assertTrue(pump.serverIO.disconnecting)


class RealPortTests(TestCase):
    """One smoke test on a real tcp:0:interface=127.0.0.1 endpoint with real clients."""

    timeout = 20

    async def start_service(self) -> tuple[ChatService, int]:
        service = ChatService(
            config_for_tests(listen=("tcp:0:interface=127.0.0.1",)),
            reactor,
            store=MemoryStore(),
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        return service, await serve_tcp(self, service)

    async def token(self, service: ChatService, name: str) -> str:
        session = await service.accounts.register(CredentialsForm(name, "password-1"))
        return session.token

    async def join(self, port: int, token: str) -> RecordingClient:
        return await join_tcp(self, reactor, port, token)

    async def test_two_real_clients_see_each_others_messages(self) -> None:
        """Two Autobahn clients over TCP each receive the other's message."""
        service, port = await self.start_service()
        alice = await self.join(port, await self.token(service, "alice"))
        bob = await self.join(port, await self.token(service, "bob"))
        alice.send_json({"content": "hi bob"})
        for client in (alice, bob):
            self.assertEqual((await client.next_of("message"))["content"], "hi bob")
        bob.send_json({"content": "hi alice"})
        for client in (alice, bob):
            self.assertEqual((await client.next_of("message"))["content"], "hi alice")

    async def test_stop_closes_real_sockets_with_1001_and_stops_listening(self) -> None:
        """StopService closes a real client with 1001, then the port refuses connections."""
        service, port = await self.start_service()
        alice = await self.join(port, await self.token(service, "alice"))
        await service.stopService()
        self.assertEqual(await alice.closed, CLOSE_GOING_AWAY)
        with self.assertRaises(ConnectionRefusedError):
            await connect_tcp(reactor, port, "/ws?roomId=1")
