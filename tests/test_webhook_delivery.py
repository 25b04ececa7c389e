"""WebhookDelivery on a memory store, a Clock and a fake treq client.

Order per endpoint, signatures, backoff with jitter, timeouts, dead
letters and their retry, concurrency across endpoints, leases between
processes and a stop that lets the attempt in flight finish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import ResponseDone

from chatservice.hook_models import DeliveryPolicy, NewWebhook, Webhook
from chatservice.models import NewRoom, Room, User
from chatservice.store.memory import MemoryStore
from chatservice.timeline import Timeline
from chatservice.webhook_delivery import WebhookDelivery
from chatservice.webhook_signing import verify
from tests.store_contract import new_message

POLICY = DeliveryPolicy(
    retry_for=600.0, backoff_base=10.0, backoff_max=100.0, timeout=5.0, poll_interval=1.0
)


@dataclass
class FakeResponse:
    """What treq.collect needs of a response: a code and a body."""

    code: int
    body: bytes = b""

    @property
    def length(self) -> int:
        """The body's length, as ``IResponse.length``."""
        return len(self.body)

    def deliverBody(self, protocol: Any) -> None:  # noqa: N802 - IResponse's
        """Hand the body over at once."""
        protocol.dataReceived(self.body)
        protocol.connectionLost(Failure(ResponseDone()))


@dataclass
class Call:
    """One POST the fake client got, and the Deferred it answers with."""

    url: str
    body: dict[str, Any]
    raw: bytes
    headers: dict[Any, list[Any]]
    answer: Deferred[Any] = field(default_factory=Deferred)


class FakeClient:
    """A treq-like client: answers with ``code`` at once, or holds every call when ``hold``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.code = 204
        self.hold = False

    def post(
        self, url: str, /, *, data: bytes, headers: dict[Any, list[Any]], allow_redirects: bool
    ) -> Deferred[Any]:
        """Record the call; answer now unless holding."""
        call = Call(url, json.loads(data), data, headers)
        self.calls.append(call)
        if not self.hold:
            call.answer.callback(FakeResponse(self.code))
        return call.answer

    def events(self, url: str | None = None) -> list[int]:
        """The event ids posted (to ``url``), in order."""
        return [c.body["event_id"] for c in self.calls if url is None or c.url == url]


class DeliveryTests(TestCase):
    """One process delivering from a memory store."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.store = MemoryStore(self.clock)
        self.client = FakeClient()
        self.delivery = self.make_delivery("p1")

    def make_delivery(self, owner: str, policy: DeliveryPolicy = POLICY) -> WebhookDelivery:
        """A WebhookDelivery on the shared store and clock; draws 0.5 (jitter factor 0.75)."""
        delivery = WebhookDelivery(
            self.store,
            Timeline(self.store),
            self.client,
            self.clock,
            owner,
            policy,
            draw=lambda: 0.5,
        )
        return delivery

    async def setup_room(self, urls: tuple[str, ...] = ("https://a.test/",)) -> list[Webhook]:
        """Alice's room with one message, then webhooks to ``urls``."""
        self.alice: User = await self.store.create_user("alice", b"h", 1)
        self.room: Room = await self.store.create_room(NewRoom("Ops", "", self.alice.id, 1))
        await self.post("before")
        return [
            await self.store.create_webhook(NewWebhook(self.room.id, url, "s3cret", 1, 1))
            for url in urls
        ]

    async def post(self, *contents: str) -> list[int]:
        """Post messages in the room; their ids."""
        posted = await self.store.add_messages(
            [new_message(self.room, self.alice, c) for c in contents]
        )
        return [p.message.id for p in posted]

    async def tick(self, seconds: float = 0.0) -> None:
        """Advance the clock, poll, and wait for the runs."""
        self.clock.advance(seconds)
        await self.delivery.poll()
        await self.delivery.settled()

    async def test_new_events_go_out_in_order_signed_and_the_cursor_follows(self) -> None:
        """Only events after registration; each signed, with its delivery id and type."""
        [hook] = await self.setup_room()
        ids = await self.post("one", "two", "three")
        await self.tick()
        self.assertEqual(self.client.events(), ids)
        for call, event_id in zip(self.client.calls, ids, strict=True):
            headers = {k: v[0] for k, v in call.headers.items()}
            self.assertTrue(
                verify(
                    "s3cret",
                    headers["X-Chat-Timestamp"],
                    headers["X-Chat-Signature"],
                    call.raw,
                    self.clock.seconds(),
                )
            )
            self.assertEqual(headers["X-Chat-Delivery"], f"{hook.id}.{event_id}")
            self.assertEqual(headers["X-Chat-Event"], "message")
            self.assertEqual(call.body["room_id"], self.room.id)
            self.assertEqual(call.body["event"]["id"], event_id)
        self.assertEqual((await self.store.get_webhook(hook.id)).delivered_through, ids[-1])
        await self.tick(1)
        self.assertEqual(len(self.client.calls), 3)

    async def test_a_failure_backs_off_exponentially_with_jitter_then_succeeds(self) -> None:
        """503: retried after 10*0.75 s, then 20*0.75 s, same delivery id; success clears."""
        [hook] = await self.setup_room()
        [event] = await self.post("one")
        self.client.code = 503
        await self.tick()
        stored = await self.store.get_webhook(hook.id)
        self.assertEqual((stored.attempts, stored.last_error), (1, "HTTP 503"))
        self.assertEqual(stored.next_attempt_at, int((self.clock.seconds() + 7.5) * 1000))
        await self.tick(7.4)
        self.assertEqual(len(self.client.calls), 1)
        await self.tick(0.1)
        self.assertEqual(len(self.client.calls), 2)
        stored = await self.store.get_webhook(hook.id)
        self.assertEqual(stored.next_attempt_at, int((self.clock.seconds() + 15) * 1000))
        self.client.code = 200
        await self.tick(15)
        self.assertEqual(self.client.events(), [event] * 3)
        self.assertEqual(
            {c.headers["X-Chat-Delivery"][0] for c in self.client.calls}, {f"{hook.id}.{event}"}
        )
        stored = await self.store.get_webhook(hook.id)
        self.assertEqual(
            (stored.attempts, stored.last_error, stored.delivered_through), (0, None, event)
        )

    async def test_the_backoff_is_capped(self) -> None:
        """Past backoff_max the wait stops doubling (times the jitter)."""
        self.assertEqual(POLICY.backoff(1, 1.0), 10.0)
        self.assertEqual(POLICY.backoff(4, 1.0), 80.0)
        self.assertEqual(POLICY.backoff(5, 1.0), 100.0)
        self.assertEqual(POLICY.backoff(500, 0.0), 50.0)

    async def test_a_request_without_an_answer_times_out(self) -> None:
        """After ``timeout`` seconds the attempt fails as 'no answer', and is retried."""
        [hook] = await self.setup_room()
        await self.post("one")
        self.client.hold = True
        await self.delivery.poll()
        self.assertEqual(len(self.client.calls), 1)
        self.assertTrue(self.delivery.running)
        self.clock.advance(5)
        await self.delivery.settled()
        self.assertTrue(self.client.calls[0].answer.called)  # cancelled
        self.assertEqual(
            (await self.store.get_webhook(hook.id)).last_error, "no answer within 5 s"
        )

    async def test_a_head_failing_past_retry_for_is_dead_lettered_and_the_next_goes(self) -> None:
        """Failing for 600 s: a dead letter with the last error; the next event is delivered."""
        [hook] = await self.setup_room()
        first, second = await self.post("one", "two")
        self.client.code = 500
        await self.tick()
        ticks = 0
        while not await self.store.list_dead_letters(hook.id, None, 10):
            self.assertEqual(self.client.events()[-1], first)
            await self.tick(100)
            ticks += 1
        self.assertEqual(ticks, 6)  # 600 s of failing, then one more attempt
        # The next event was tried at once (and failed: still 500), then backs off.
        self.assertEqual(self.client.events()[-1], second)
        self.client.code = 204
        await self.tick(7.5)
        [letter] = await self.store.list_dead_letters(hook.id, None, 10)
        self.assertEqual((letter.event_id, letter.last_error), (first, "HTTP 500"))
        self.assertGreater(letter.attempts, 5)
        self.assertEqual(self.client.events()[-1], second)
        self.assertEqual((await self.store.get_webhook(hook.id)).delivered_through, second)

    async def test_a_retried_dead_letter_goes_before_the_next_event(self) -> None:
        """After retry, the dead letter's event is sent, then the events that came since."""
        [hook] = await self.setup_room()
        [first] = await self.post("one")
        self.client.code = 500
        for _ in range(12):
            await self.tick(100)
        [letter] = await self.store.list_dead_letters(hook.id, None, 10)
        self.client.code = 204
        await self.store.retry_dead_letter(hook.id, letter.id)
        [later] = await self.post("later")
        self.client.calls.clear()
        await self.tick(1)
        self.assertEqual(self.client.events(), [first, later])
        self.assertEqual(await self.store.list_dead_letters(hook.id, None, 10), [])

    async def test_endpoints_deliver_concurrently_one_request_each(self) -> None:
        """Two webhooks: both in flight at once, and each waits for its answer to go on."""
        a, b = await self.setup_room(("https://a.test/", "https://b.test/"))
        ids = await self.post("one", "two")
        self.client.hold = True
        await self.delivery.poll()
        self.assertEqual(
            sorted(c.url for c in self.client.calls), ["https://a.test/", "https://b.test/"]
        )
        self.assertEqual(self.delivery.running, {a.id, b.id})
        first_a = next(c for c in self.client.calls if c.url == "https://a.test/")
        first_a.answer.callback(FakeResponse(204))
        self.assertEqual(self.client.events("https://a.test/"), ids)
        self.assertEqual(self.client.events("https://b.test/"), ids[:1])
        self.client.hold = False
        while waiting := [c for c in self.client.calls if not c.answer.called]:
            waiting[0].answer.callback(FakeResponse(204))
        await self.delivery.settled()
        self.assertEqual(self.client.events("https://b.test/"), ids)

    async def test_a_second_process_leaves_a_leased_webhook_alone(self) -> None:
        """p2 polls while p1 delivers: nothing is sent twice."""
        await self.setup_room()
        ids = await self.post("one", "two")
        other = self.make_delivery("p2")
        self.client.hold = True
        await self.delivery.poll()
        await other.poll()
        self.assertEqual(len(self.client.calls), 1)
        self.client.hold = False
        self.client.calls[0].answer.callback(FakeResponse(204))
        await self.delivery.settled()
        await other.poll()
        await other.settled()
        self.assertEqual(self.client.events(), ids)

    async def test_stop_lets_the_attempt_in_flight_finish_and_record(self) -> None:
        """stop() waits for the answer; the event is recorded as delivered, not sent again."""
        [hook] = await self.setup_room()
        [event] = await self.post("one")
        self.client.hold = True
        self.delivery.start()
        stopping = Deferred.fromCoroutine(self.delivery.stop())
        self.assertNoResult(stopping)
        self.client.calls[0].answer.callback(FakeResponse(204))
        await stopping
        self.assertEqual((await self.store.get_webhook(hook.id)).delivered_through, event)

    async def test_a_deleted_webhook_stops_after_its_attempt(self) -> None:
        """Deleted mid-attempt: the outcome is not recorded and nothing more is sent."""
        [hook] = await self.setup_room()
        await self.post("one", "two")
        self.client.hold = True
        await self.delivery.poll()
        await self.store.delete_webhook(hook.id)
        self.client.calls[0].answer.callback(FakeResponse(204))
        await self.delivery.settled()
        self.assertEqual(len(self.client.calls), 1)

    async def test_an_unreachable_store_is_a_warning_not_a_crash(self) -> None:
        """A poll whose claim fails with StoreUnavailable logs a warning; the next one works."""
        from chatservice.errors import StoreUnavailable

        await self.setup_room()
        await self.post("one")
        original = self.store.claim_webhooks
        self.store.claim_webhooks = lambda *a: _failed(StoreUnavailable())  # type: ignore[method-assign]
        await self.tick()
        self.assertEqual(self.client.calls, [])
        self.store.claim_webhooks = original  # type: ignore[method-assign]
        await self.tick(1)
        self.assertEqual(len(self.client.calls), 1)


def _failed(error: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(error)
    return d
