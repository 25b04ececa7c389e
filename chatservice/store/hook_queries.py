"""The SQL of webhooks (cursor, retry state, lease, dead letters) and bots.

Each function runs in a pool thread inside one ``Database`` transaction
(``SQLHooks`` has already answered ids past 64 bits). An outcome is
recorded only under its owner's lease, checked by the ``UPDATE`` itself,
so two processes never both move one webhook's cursor.
"""

from __future__ import annotations

from typing import Any

from chatservice.errors import Conflict, NotFound
from chatservice.hook_models import DEAD, DELIVERED, Bot, DeadLetter, NewWebhook, Outcome, Webhook
from chatservice.keyring import sealed_key_id
from chatservice.store.database import Txn
from chatservice.store.sealing import Sealing

_WEBHOOK = (
    "id, room_id, url, secret, created_by, created_at, delivered_through, attempts,"
    " first_failed_at, next_attempt_at, last_error, sealed_secret"
)
_DEAD = "id, webhook_id, event_id, attempts, last_error, failed_at, retry"
_BOT = "b.user_id, u.username, b.created_by, b.room_id, b.created_at, b.key_hash, b.key_created_at"
_BOTS = f"SELECT {_BOT} FROM bots b JOIN users u ON u.id = b.user_id"

# The newest event of a room, of any kind: new messages, their changes,
# member events (one id sequence).
_NEWEST_EVENT = (
    "SELECT MAX(newest) FROM ("
    " SELECT MAX(id) AS newest FROM messages WHERE room_id = :room_id"
    " UNION ALL SELECT MAX(id) FROM events WHERE room_id = :room_id"
    " UNION ALL SELECT MAX(id) FROM member_events WHERE room_id = :room_id"
    ") AS newest_events"
)
# Webhooks with something to deliver now, not leased to someone else.
_DUE = (
    f"SELECT {_WEBHOOK} FROM webhooks w"
    " WHERE next_attempt_at <= :now AND (lease_until <= :now OR lease_owner = :owner)"
    " AND (EXISTS (SELECT 1 FROM messages m WHERE m.room_id = w.room_id"
    " AND m.id > w.delivered_through)"
    " OR EXISTS (SELECT 1 FROM events e WHERE e.room_id = w.room_id"
    " AND e.id > w.delivered_through)"
    " OR EXISTS (SELECT 1 FROM member_events v WHERE v.room_id = w.room_id"
    " AND v.id > w.delivered_through)"
    " OR EXISTS (SELECT 1 FROM webhook_dead_letters d WHERE d.webhook_id = w.id"
    " AND d.retry = :yes))"
    " ORDER BY next_attempt_at, id LIMIT :limit"
)
_LEASE = (
    "UPDATE webhooks SET lease_owner = :owner, lease_until = :lease_until"
    " WHERE id = :id AND (lease_until <= :now OR lease_owner = :owner)"
)
_HOLDS = "SELECT 1 FROM webhooks WHERE id = :id AND lease_owner = :owner"
_CLEAR_FAILURE = (
    "attempts = 0, first_failed_at = NULL, next_attempt_at = 0, last_error = NULL,"
    " lease_until = :lease_until"
)


def webhook_row(row: tuple[Any, ...], sealing: Sealing) -> Webhook:
    """A ``_WEBHOOK`` row as a ``Webhook``, its secret opened (``ENCRYPTION_KEY``)."""
    sealed = None if row[11] is None else bytes(row[11])
    return Webhook(
        id=int(row[0]),
        room_id=int(row[1]),
        url=str(row[2]),
        secret=sealing.open_secret(int(row[0]), str(row[3]), sealed),
        created_by=int(row[4]),
        created_at=int(row[5]),
        delivered_through=int(row[6]),
        attempts=int(row[7]),
        first_failed_at=None if row[8] is None else int(row[8]),
        next_attempt_at=int(row[9]),
        last_error=row[10],
    )


def dead_row(row: tuple[Any, ...]) -> DeadLetter:
    """A ``_DEAD`` row as a ``DeadLetter``."""
    return DeadLetter(
        int(row[0]), int(row[1]), int(row[2]), int(row[3]), str(row[4]), int(row[5]), bool(row[6])
    )


def bot_row(row: tuple[Any, ...]) -> Bot:
    """A ``_BOT`` row as a ``Bot``."""
    return Bot(
        user_id=int(row[0]),
        username=str(row[1]),
        created_by=int(row[2]),
        room_id=None if row[3] is None else int(row[3]),
        created_at=int(row[4]),
        key_hash=row[5],
        key_created_at=None if row[6] is None else int(row[6]),
    )


# -- webhooks -----------------------------------------------------------------


def create_webhook(txn: Txn, new: NewWebhook) -> Webhook:
    """Insert a webhook whose cursor is the room's newest event.

    The writers' lock first: no event numbered below the cursor can commit
    after it was read. With ``ENCRYPTION_KEY`` the secret is sealed bound to
    the new id, so the row is inserted without it and then given it: the
    plain secret never reaches the database.
    """
    txn.lock_writers()
    if txn.query_one("SELECT 1 FROM rooms WHERE id = :id", {"id": new.room_id}) is None:
        raise NotFound("No such room.")
    row = txn.query_one(_NEWEST_EVENT, {"room_id": new.room_id})
    newest = int(row[0]) if row is not None and row[0] is not None else 0
    webhook_id = txn.insert(
        "INSERT INTO webhooks (room_id, url, secret, created_by, created_at, delivered_through)"
        " VALUES (:room_id, :url, :secret, :created_by, :created_at, :newest)",
        {
            "room_id": new.room_id,
            "url": new.url,
            "secret": "" if txn.sealing.enabled else new.secret,
            "created_by": new.created_by,
            "created_at": new.created_at,
            "newest": newest,
        },
    )
    if txn.sealing.enabled:
        _, sealed = txn.sealing.seal_secret(webhook_id, new.secret)
        txn.execute(_SEAL_SECRET, {"id": webhook_id, "secret": "", "sealed": sealed})
    return get_webhook(txn, webhook_id)


_SEAL_SECRET = "UPDATE webhooks SET secret = :secret, sealed_secret = :sealed WHERE id = :id"


def reseal_secrets(txn: Txn) -> int:
    """Seal every webhook secret under the ring's current key; how many were rewritten.

    A rotation's last step (``sealing_queries.reseal_batch``), before the
    older keys are retired; secrets already under the current key are left.
    """
    sealing = txn.sealing
    assert sealing.ring is not None
    current = sealing.ring.current
    updates: list[dict[str, object]] = []
    for webhook_id, secret, sealed in txn.query(
        "SELECT id, secret, sealed_secret FROM webhooks ORDER BY id", {}
    ):
        raw = None if sealed is None else bytes(sealed)
        if raw is not None and sealed_key_id(raw) == current:
            continue
        plain = sealing.open_secret(int(webhook_id), str(secret), raw)
        _, new_sealed = sealing.seal_secret(int(webhook_id), plain)
        updates.append({"id": int(webhook_id), "secret": "", "sealed": new_sealed})
    if updates:
        txn.execute_many(_SEAL_SECRET, updates)
    return len(updates)


def get_webhook(txn: Txn, webhook_id: int) -> Webhook:
    """The webhook, or ``NotFound``."""
    row = txn.query_one(f"SELECT {_WEBHOOK} FROM webhooks WHERE id = :id", {"id": webhook_id})
    if row is None:
        raise NotFound("No such webhook.")
    return webhook_row(row, txn.sealing)


def list_webhooks(txn: Txn, room_id: int) -> list[Webhook]:
    """The room's webhooks, by id."""
    rows = txn.query(
        f"SELECT {_WEBHOOK} FROM webhooks WHERE room_id = :room_id ORDER BY id",
        {"room_id": room_id},
    )
    return [webhook_row(row, txn.sealing) for row in rows]


def delete_webhook(txn: Txn, webhook_id: int) -> None:
    """Delete the webhook and its dead letters, or ``NotFound``."""
    get_webhook(txn, webhook_id)
    params = {"id": webhook_id}
    txn.execute("DELETE FROM webhook_dead_letters WHERE webhook_id = :id", params)
    txn.execute("DELETE FROM webhooks WHERE id = :id", params)


def due_webhooks(txn: Txn, owner: str, now: int, limit: int) -> list[Webhook]:
    """The webhooks with work due at ``now`` that ``owner`` may lease (a read)."""
    params = {"now": now, "owner": owner, "yes": True, "limit": limit}
    return [webhook_row(row, txn.sealing) for row in txn.query(_DUE, params)]


def lease_webhooks(
    txn: Txn, webhooks: list[Webhook], owner: str, now: int, lease_until: int
) -> list[Webhook]:
    """Lease ``webhooks`` to ``owner``; the ones it got."""
    claimed: list[Webhook] = []
    for webhook in webhooks:
        lease = {"id": webhook.id, "owner": owner, "now": now, "lease_until": lease_until}
        txn.execute(_LEASE, lease)
        # Another process may have taken it since it was read.
        if txn.query_one(_HOLDS, lease) is not None:
            claimed.append(get_webhook(txn, webhook.id))
    return claimed


def release_webhook(txn: Txn, webhook_id: int, owner: str) -> None:
    """End ``owner``'s lease."""
    txn.execute(
        "UPDATE webhooks SET lease_owner = NULL, lease_until = 0"
        " WHERE id = :id AND lease_owner = :owner",
        {"id": webhook_id, "owner": owner},
    )


def record_outcome(txn: Txn, outcome: Outcome) -> bool:
    """Record one attempt's outcome under the owner's lease; False if not theirs."""
    holds = {"id": outcome.webhook_id, "owner": outcome.owner}
    if txn.query_one(_HOLDS, holds) is None:
        return False
    params: dict[str, object] = {**holds, "lease_until": outcome.lease_until}
    if outcome.kind == DELIVERED or outcome.kind == DEAD:
        if outcome.kind == DEAD:
            _write_dead_letter(txn, outcome)
        elif outcome.dead_letter_id is not None:
            txn.execute(
                "DELETE FROM webhook_dead_letters WHERE id = :dead AND webhook_id = :id",
                {"dead": outcome.dead_letter_id, "id": outcome.webhook_id},
            )
        if outcome.dead_letter_id is None:
            txn.execute(
                f"UPDATE webhooks SET delivered_through = :event_id, {_CLEAR_FAILURE}"
                " WHERE id = :id AND delivered_through < :event_id",
                {**params, "event_id": outcome.event_id},
            )
        txn.execute(f"UPDATE webhooks SET {_CLEAR_FAILURE} WHERE id = :id", params)
        return True
    txn.execute(
        "UPDATE webhooks SET attempts = :attempts, first_failed_at = :first_failed_at,"
        " next_attempt_at = :next_attempt_at, last_error = :last_error,"
        " lease_until = :lease_until WHERE id = :id",
        {
            **params,
            "attempts": outcome.attempts,
            "first_failed_at": outcome.first_failed_at,
            "next_attempt_at": outcome.next_attempt_at,
            "last_error": outcome.last_error,
        },
    )
    return True


def _write_dead_letter(txn: Txn, outcome: Outcome) -> None:
    """Insert the dead letter, or update the retried one (no longer marked for retry)."""
    params = {
        "id": outcome.webhook_id,
        "event_id": outcome.event_id,
        "attempts": outcome.attempts,
        "last_error": outcome.last_error or "",
        "failed_at": outcome.at,
        "no": False,
    }
    if outcome.dead_letter_id is not None:
        txn.execute(
            "UPDATE webhook_dead_letters SET attempts = :attempts, last_error = :last_error,"
            " failed_at = :failed_at, retry = :no WHERE id = :dead AND webhook_id = :id",
            {**params, "dead": outcome.dead_letter_id},
        )
        return
    existing = txn.query_one(
        "SELECT id FROM webhook_dead_letters WHERE webhook_id = :id AND event_id = :event_id",
        params,
    )
    if existing is not None:
        return  # recorded by an earlier attempt whose cursor move was lost: keep one
    txn.insert(
        "INSERT INTO webhook_dead_letters"
        " (webhook_id, event_id, attempts, last_error, failed_at, retry)"
        " VALUES (:id, :event_id, :attempts, :last_error, :failed_at, :no)",
        params,
    )


def next_retry(txn: Txn, webhook_id: int) -> DeadLetter | None:
    """The oldest dead letter marked for retry."""
    row = txn.query_one(
        f"SELECT {_DEAD} FROM webhook_dead_letters WHERE webhook_id = :id AND retry = :yes"
        " ORDER BY event_id LIMIT 1",
        {"id": webhook_id, "yes": True},
    )
    return None if row is None else dead_row(row)


def list_dead_letters(
    txn: Txn, webhook_id: int, before: int | None, limit: int
) -> list[DeadLetter]:
    """A page of dead letters, newest first."""
    rows = txn.query(
        f"SELECT {_DEAD} FROM webhook_dead_letters WHERE webhook_id = :id AND id < :before"
        " ORDER BY id DESC LIMIT :limit",
        {"id": webhook_id, "before": before, "limit": limit},
    )
    return [dead_row(row) for row in rows]


def _dead_letter(txn: Txn, webhook_id: int, dead_letter_id: int) -> DeadLetter:
    row = txn.query_one(
        f"SELECT {_DEAD} FROM webhook_dead_letters WHERE id = :dead AND webhook_id = :id",
        {"dead": dead_letter_id, "id": webhook_id},
    )
    if row is None:
        raise NotFound("No such dead letter.")
    return dead_row(row)


def retry_dead_letter(txn: Txn, webhook_id: int, dead_letter_id: int) -> DeadLetter:
    """Mark a dead letter for retry."""
    _dead_letter(txn, webhook_id, dead_letter_id)
    txn.execute(
        "UPDATE webhook_dead_letters SET retry = :yes WHERE id = :dead",
        {"yes": True, "dead": dead_letter_id},
    )
    return _dead_letter(txn, webhook_id, dead_letter_id)


def discard_dead_letter(txn: Txn, webhook_id: int, dead_letter_id: int) -> None:
    """Delete a dead letter."""
    _dead_letter(txn, webhook_id, dead_letter_id)
    txn.execute("DELETE FROM webhook_dead_letters WHERE id = :dead", {"dead": dead_letter_id})


# -- bots -----------------------------------------------------------------------


def add_bot(
    txn: Txn, user_id: int, created_by: int, room_id: int | None, key_hash: str, created_at: int
) -> Bot:
    """Make the user a bot."""
    if txn.query_one("SELECT 1 FROM bots WHERE user_id = :id", {"id": user_id}) is not None:
        raise Conflict("That user is a bot already.")
    for table, wanted in (("users", user_id), ("users", created_by), ("rooms", room_id)):
        if wanted is not None and (
            txn.query_one(f"SELECT 1 FROM {table} WHERE id = :id", {"id": wanted}) is None
        ):
            raise NotFound("No such room." if table == "rooms" else "No such user.")
    txn.execute(
        "INSERT INTO bots (user_id, created_by, room_id, created_at, key_hash, key_created_at)"
        " VALUES (:user_id, :created_by, :room_id, :created_at, :key_hash, :created_at)",
        {
            "user_id": user_id,
            "created_by": created_by,
            "room_id": room_id,
            "created_at": created_at,
            "key_hash": key_hash,
        },
    )
    return get_bot(txn, user_id)


def get_bot(txn: Txn, user_id: int) -> Bot:
    """The bot, or ``NotFound``."""
    row = txn.query_one(f"{_BOTS} WHERE b.user_id = :id", {"id": user_id})
    if row is None:
        raise NotFound("No such bot.")
    return bot_row(row)


def bot_by_key(txn: Txn, key_hash: str) -> Bot | None:
    """The bot with this key, or None."""
    row = txn.query_one(f"{_BOTS} WHERE b.key_hash = :key_hash", {"key_hash": key_hash})
    return None if row is None else bot_row(row)


def list_bots(txn: Txn, created_by: int | None) -> list[Bot]:
    """The bots one user made, or all."""
    if created_by is None:
        rows = txn.query(f"{_BOTS} ORDER BY b.user_id")
    else:
        rows = txn.query(
            f"{_BOTS} WHERE b.created_by = :created_by ORDER BY b.user_id",
            {"created_by": created_by},
        )
    return [bot_row(row) for row in rows]


def set_bot_key(txn: Txn, user_id: int, key_hash: str | None, at: int) -> Bot:
    """Replace or revoke the bot's key."""
    get_bot(txn, user_id)
    txn.execute(
        "UPDATE bots SET key_hash = :key_hash, key_created_at = :at WHERE user_id = :id",
        {"id": user_id, "key_hash": key_hash, "at": None if key_hash is None else at},
    )
    return get_bot(txn, user_id)
