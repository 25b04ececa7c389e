"""The records of outgoing webhooks and bots (issue 13): what the store keeps of them.

Separate from ``models.py`` (messages) and ``access_models.py`` (rooms'
members): a webhook is a room's delivery cursor with its retry state, a
dead letter an event given up on, a bot a user account with an API key.
Secrets and keys are never in a ``to_json``: they are shown once, by the
use case that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# What an ``Outcome`` records.
DELIVERED = "delivered"
FAILED = "failed"
DEAD = "dead"
OUTCOMES = (DELIVERED, FAILED, DEAD)


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A webhook to register; the store starts its cursor at the room's newest event."""

    room_id: int
    url: str
    secret: str
    created_by: int
    created_at: int  # ms


@dataclass(frozen=True, slots=True)
class Webhook:
    """A room's endpoint: where its events go, how far they went, and the failing head.

    ``delivered_through`` is the id of the last event delivered or
    dead-lettered: the next delivery is the room's first event after it (or
    a dead letter an owner asked to retry). ``attempts``,
    ``first_failed_at``, ``next_attempt_at`` and ``last_error`` describe the
    head delivery while it fails; a success clears them.
    """

    id: int
    room_id: int
    url: str
    secret: str
    created_by: int
    created_at: int
    delivered_through: int
    attempts: int = 0
    first_failed_at: int | None = None
    next_attempt_at: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The webhook as the API shows it: never its secret."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "url": self.url,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "delivered_through": self.delivered_through,
            "failing_attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at or None,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a webhook gave up on after its retry period, with the last error."""

    id: int
    webhook_id: int
    event_id: int
    attempts: int
    last_error: str
    failed_at: int  # ms
    retry: bool = False  # an owner asked for one more round of attempts

    def to_json(self) -> dict[str, Any]:
        """The dead letter as the API lists it."""
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "failed_at": self.failed_at,
            "retry_pending": self.retry,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt of a webhook's head event came to, to record.

    ``kind`` is ``DELIVERED`` (the cursor moves to ``event_id``, or the
    retried dead letter ``dead_letter_id`` is gone), ``FAILED`` (the retry
    state is kept for the next attempt) or ``DEAD`` (a dead letter is
    written, or the retried one updated, and the cursor moves on). Recorded
    only while ``owner`` holds the webhook's lease, which it extends to
    ``lease_until``.
    """

    webhook_id: int
    owner: str
    kind: str
    event_id: int
    at: int  # ms
    lease_until: int  # ms
    dead_letter_id: int | None = None
    attempts: int = 0
    first_failed_at: int | None = None
    next_attempt_at: int = 0
    last_error: str | None = None

    def applied_to(self, webhook: Webhook) -> Webhook:
        """``webhook`` as a store has it once this outcome is recorded.

        The one statement of it for the memory store and for the delivery
        loop's own copy; the SQL stores say the same in their UPDATE.
        """
        if self.kind == FAILED:
            return replace(
                webhook,
                attempts=self.attempts,
                first_failed_at=self.first_failed_at,
                next_attempt_at=self.next_attempt_at,
                last_error=self.last_error,
            )
        through = webhook.delivered_through
        if self.dead_letter_id is None:
            through = max(through, self.event_id)
        return replace(
            webhook,
            delivered_through=through,
            attempts=0,
            first_failed_at=None,
            next_attempt_at=0,
            last_error=None,
        )


@dataclass(frozen=True, slots=True)
class Bot:
    """A bot account: a user that authenticates with an API key instead of a password.

    ``key_hash`` is the SHA-256 of the current key (hex), None once revoked.
    """

    user_id: int
    username: str
    created_by: int
    room_id: int | None
    created_at: int  # ms
    key_hash: str | None
    key_created_at: int | None

    def to_json(self) -> dict[str, Any]:
        """The bot as the API shows it: whether it has a key, never the key or its hash."""
        return {
            "user_id": self.user_id,
            "username": self.username,
            "created_by": self.created_by,
            "room_id": self.room_id,
            "created_at": self.created_at,
            "has_key": self.key_hash is not None,
            "key_created_at": self.key_created_at,
        }


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Timeouts, retries and pace of webhook deliveries (``WEBHOOK_*`` settings)."""

    retry_for: float = 86400.0  # seconds a head may fail before it is dead-lettered
    backoff_base: float = 5.0  # the first retry's delay, seconds (before jitter)
    backoff_max: float = 3600.0  # no retry waits longer
    connect_timeout: float = 5.0
    timeout: float = 15.0  # a whole request: connect, send, answer
    poll_interval: float = 1.0
    concurrency: int = 32  # webhooks delivering at once in one process
    page: int = 50  # events read per store query

    @property
    def lease(self) -> float:
        """How long a claim lasts without a recorded outcome: past any one attempt."""
        return 2 * self.timeout + 60.0

    def backoff(self, attempts: int, draw: float) -> float:
        """Seconds before attempt ``attempts + 1``: doubling, capped, times 0.5-1 (jitter).

        Jitter keeps endpoints that failed together (a receiver's outage)
        from all coming back in the same second.
        """
        delay = min(self.backoff_max, self.backoff_base * 2 ** min(attempts - 1, 40))
        return float(delay * (0.5 + draw / 2))
