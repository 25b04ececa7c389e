"""The SQL of push subscriptions (``IPushStore``), run by ``sql_push`` in pool threads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatservice.errors import NotFound
from chatservice.push_models import NewPushSubscription, PushSubscription
from chatservice.store.database import Txn

_COLUMNS = "id, user_id, endpoint, p256dh, auth, created_at"


def _subscription(row: tuple[Any, ...]) -> PushSubscription:
    return PushSubscription(
        int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5])
    )


def add(txn: Txn, new: NewPushSubscription, limit: int) -> PushSubscription:
    """Insert or replace the endpoint's row, then trim the user's oldest past ``limit``.

    The writers' lock (PostgreSQL) serializes two registrations of one
    endpoint, so the second finds the first's row instead of a conflict.
    """
    txn.lock_writers()
    if txn.query_one("SELECT 1 FROM users WHERE id = :id", {"id": new.user_id}) is None:
        raise NotFound("No such user.")
    params = {
        "user_id": new.user_id,
        "endpoint": new.endpoint,
        "p256dh": new.p256dh,
        "auth": new.auth,
        "created_at": new.created_at,
    }
    row = txn.query_one(
        "SELECT id FROM push_subscriptions WHERE endpoint = :endpoint", {"endpoint": new.endpoint}
    )
    if row is None:
        sub_id = txn.insert(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)"
            " VALUES (:user_id, :endpoint, :p256dh, :auth, :created_at)",
            params,
        )
    else:
        sub_id = int(row[0])
        txn.execute(
            "UPDATE push_subscriptions SET user_id = :user_id, p256dh = :p256dh,"
            " auth = :auth, created_at = :created_at WHERE id = :id",
            {**params, "id": sub_id},
        )
    mine = txn.query(
        "SELECT id FROM push_subscriptions WHERE user_id = :user_id"
        " ORDER BY created_at DESC, id DESC",
        {"user_id": new.user_id},
    )
    # The one just registered stays, with the newest of the others.
    others = [int(r[0]) for r in mine if int(r[0]) != sub_id]
    for old_id in others[max(limit, 1) - 1 :]:
        txn.execute("DELETE FROM push_subscriptions WHERE id = :id", {"id": old_id})
    return PushSubscription(
        sub_id, new.user_id, new.endpoint, new.p256dh, new.auth, new.created_at
    )


def of_users(txn: Txn, user_ids: Sequence[int]) -> list[PushSubscription]:
    """The subscriptions of these users, by user id then id."""
    rows: list[PushSubscription] = []
    for user_id in sorted(set(user_ids)):
        rows += [
            _subscription(row)
            for row in txn.query(
                f"SELECT {_COLUMNS} FROM push_subscriptions WHERE user_id = :user_id ORDER BY id",
                {"user_id": user_id},
            )
        ]
    return rows


def delete(txn: Txn, user_id: int, subscription_id: int) -> None:
    """Delete one subscription of the user; ``NotFound`` if there is none."""
    row = txn.query_one(
        "SELECT id FROM push_subscriptions WHERE id = :id AND user_id = :user_id",
        {"id": subscription_id, "user_id": user_id},
    )
    if row is None:
        raise NotFound("No such push subscription.")
    txn.execute("DELETE FROM push_subscriptions WHERE id = :id", {"id": subscription_id})


def forget(txn: Txn, endpoint: str) -> bool:
    """Delete the endpoint's subscription; True if there was one."""
    row = txn.query_one(
        "SELECT id FROM push_subscriptions WHERE endpoint = :endpoint", {"endpoint": endpoint}
    )
    if row is None:
        return False
    txn.execute("DELETE FROM push_subscriptions WHERE id = :id", {"id": int(row[0])})
    return True
