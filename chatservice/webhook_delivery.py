"""Deliver rooms' events to their webhooks: in order, signed, retried, dead-lettered.

The outbox is the room's timeline read from each webhook's cursor
(``IHookStore``): every event is durable before any socket hears of it, so
a restart loses nothing, and there is nothing to write beside each event.
Every ``poll_interval`` seconds a process leases the webhooks with work due
(one process delivers a webhook at a time; a crashed one's lease runs out)
and starts one *run* per webhook, up to ``concurrency`` at once; each run
delivers that webhook's events one after another, so order is kept per
endpoint while endpoints deliver concurrently. Nothing here blocks the
reactor: requests are treq's, with a connect and a total timeout.

A failed attempt (a non-2xx answer, a timeout, a refused connection or
address) keeps the event at the head: the next attempt comes after an
exponential backoff with jitter, and once the head has failed for
``retry_for`` seconds it becomes a dead letter and the cursor moves on.
The webhook's retry state is in the store, so a restart neither forgets
the backoff nor starts the day over. A delivery that succeeded at the
receiver but whose success was not recorded (the process died in
between) is sent again with the same ``X-Chat-Delivery`` id: receivers
drop repeated ids. A clean stop lets each run finish its attempt first.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from chatservice.errors import ChatError
from chatservice.hook_models import DEAD, DELIVERED, FAILED, DeliveryPolicy, Outcome, Webhook
from chatservice.store import IChatStore
from chatservice.timeline import RoomTimelineEvent, Timeline
from chatservice.webhook_post import HTTPPoster, post_event


@dataclass(frozen=True, slots=True)
class _Head:
    """The next thing a webhook has to deliver: an event, and the dead letter it came from."""

    event_id: int
    payload: dict[str, Any] | None  # None: the event no longer exists
    dead_letter_id: int | None = None


class WebhookDelivery:
    """Polls for due webhooks and runs their deliveries."""

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        timeline: Timeline,
        client: HTTPPoster,
        clock: IReactorTime,
        owner: str,
        policy: DeliveryPolicy | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._timeline = timeline
        self._client = client
        self._clock = clock
        self._owner = owner
        self.policy = policy or DeliveryPolicy()
        self._draw = draw
        self._runs: dict[int, Deferred[None]] = {}
        self._poller: LoopingCall | None = None
        self._polling: Deferred[None] | None = None
        self._stopping = False

    # -- life cycle -------------------------------------------------------------

    def start(self) -> None:
        """Poll every ``poll_interval`` seconds from now on (and now)."""
        self._stopping = False
        self._poller = LoopingCall(self.poll)
        self._poller.clock = self._clock
        self._poller.start(self.policy.poll_interval, now=True)

    async def stop(self) -> None:
        """Stop polling; let every run finish its attempt and give back its lease."""
        self._stopping = True
        if self._poller is not None and self._poller.running:
            self._poller.stop()
        await self.settled()

    async def stop_within(self, seconds: float, clock: IReactorTime) -> None:
        """``stop``, abandoning the attempts still in flight after ``seconds`` (a shutdown)."""
        stopping = Deferred.fromCoroutine(self.stop())
        if not stopping.called:
            stopping.addTimeout(max(seconds, 0.001), clock)
        try:
            await stopping
        except (defer.TimeoutError, CancelledError):
            self.log.warn("webhook deliveries did not finish in time; they will be retried")
            self.cancel()

    def cancel(self) -> None:
        """Abandon every attempt in flight (a shutdown that ran out of time).

        An abandoned attempt is not recorded: it is made again, with the same
        delivery id, once a process holds the webhook again.
        """
        for run in list(self._runs.values()):
            run.cancel()

    async def settled(self) -> None:
        """Wait until no poll and no run is in progress (for stopping, and tests)."""
        while self._polling is not None or self._runs:
            waiting = [d for d in (self._polling, *self._runs.values()) if d is not None]
            await DeferredList(waiting, consumeErrors=True)

    @property
    def running(self) -> frozenset[int]:
        """The ids of the webhooks this process is delivering now."""
        return frozenset(self._runs)

    # -- polling ------------------------------------------------------------------

    def poll(self) -> Deferred[None]:
        """Claim the due webhooks and start their runs; one poll at a time."""
        if self._polling is not None:
            return self._polling
        polling = Deferred.fromCoroutine(self._poll())
        if not polling.called:
            self._polling = polling
            polling.addBoth(self._polled)
        return polling

    def _polled(self, result: object) -> object:
        self._polling = None
        return result

    async def _poll(self) -> None:
        room = self.policy.concurrency - len(self._runs)
        if room <= 0 or self._stopping:
            return
        now = self._now_ms()
        try:
            claimed = await self._store.claim_webhooks(
                self._owner, now, now + int(self.policy.lease * 1000), room
            )
        except ChatError as error:
            # The store is down or refusing writes: the next poll tries again.
            self.log.warn("webhook poll failed: {error}", error=error.message)
            return
        for webhook in claimed:
            if webhook.id in self._runs or self._stopping:
                continue
            run = Deferred.fromCoroutine(self._run(webhook))
            if not run.called:
                self._runs[webhook.id] = run
                run.addBoth(self._finished, webhook.id)

    def _finished(self, result: object, webhook_id: int) -> None:
        self._runs.pop(webhook_id, None)

    # -- one webhook ----------------------------------------------------------------

    async def _run(self, webhook: Webhook) -> None:
        """Deliver the webhook's due work in order until it is done, fails, or we stop."""
        try:
            await self._deliver_all(webhook)
        except CancelledError:
            pass
        except ChatError as error:
            self.log.warn(
                "webhook {webhook_id} paused: {error}", webhook_id=webhook.id, error=error.message
            )
        except Exception:
            self.log.failure("webhook {webhook_id} delivery failed", webhook_id=webhook.id)
        finally:
            try:
                await self._store.release_webhook(webhook.id, self._owner)
            except ChatError:
                pass  # the lease runs out by itself

    async def _deliver_all(self, webhook: Webhook) -> None:
        pending: list[RoomTimelineEvent] = []
        retries_done = False
        while not self._stopping and webhook.next_attempt_at <= self._now_ms():
            head: _Head | None = None
            if not retries_done:
                head = await self._retry_head(webhook)
                retries_done = head is None
            if head is None:
                if not pending:
                    pending = await self._timeline.page(
                        webhook.room_id, webhook.delivered_through, self.policy.page
                    )
                    pending.reverse()
                if not pending:
                    return
                event = pending[-1]
                head = _Head(event.id, event.to_json())
            outcome = await self._attempt(webhook, head)
            if not await self._store.record_outcome(outcome):
                return  # deleted, or another process holds it now
            webhook = outcome.applied_to(webhook)
            if outcome.kind == FAILED:
                return  # the next poll after next_attempt_at tries again
            if head.dead_letter_id is None:
                pending.pop()
            else:
                retries_done = False

    async def _retry_head(self, webhook: Webhook) -> _Head | None:
        """The oldest dead letter an owner asked to retry, with its event, or None."""
        dead = await self._store.next_retry(webhook.id)
        if dead is None:
            return None
        page = await self._timeline.page(webhook.room_id, dead.event_id - 1, 1)
        payload = page[0].to_json() if page and page[0].id == dead.event_id else None
        return _Head(dead.event_id, payload, dead.id)

    async def _attempt(self, webhook: Webhook, head: _Head) -> Outcome:
        """POST the head once; the outcome to record."""
        now = self._now_ms()
        lease_until = now + int(self.policy.lease * 1000)
        base = Outcome(
            webhook.id,
            self._owner,
            DELIVERED,
            head.event_id,
            now,
            lease_until,
            dead_letter_id=head.dead_letter_id,
        )
        if head.payload is None:
            return base  # nothing left to send: count it as done
        error = await post_event(
            self._client, self._clock, self.policy.timeout, webhook, head.event_id, head.payload
        )
        if error is None:
            return base
        now = self._now_ms()
        attempts = webhook.attempts + 1
        first = webhook.first_failed_at if webhook.first_failed_at is not None else now
        self.log.info(
            "webhook {webhook_id} event {event_id} attempt {attempts} failed: {error}",
            webhook_id=webhook.id,
            event_id=head.event_id,
            attempts=attempts,
            error=error,
        )
        if now - first >= self.policy.retry_for * 1000:
            return replace(base, kind=DEAD, at=now, attempts=attempts, last_error=error)
        delay = self.policy.backoff(attempts, self._draw())
        return replace(
            base,
            kind=FAILED,
            at=now,
            attempts=attempts,
            first_failed_at=first,
            next_attempt_at=now + int(delay * 1000),
            last_error=error,
        )

    def _now_ms(self) -> int:
        return int(self._clock.seconds() * 1000)
