"""The SQL of accounts: token generations, revoked sessions, disabled, deleted, admins.

Each function runs in a pool thread inside one ``Database`` transaction
(``SQLAccounts`` has already answered ids past 64 bits). A change updates
its ``users`` row with ``account_version + 1`` under a condition that makes
it a no-op for a deleted account, then reads the row back: an account that
is missing or deleted afterwards is ``NotFound``, and the raised error rolls
the transaction back. Erasing messages writes timeline events, so it takes
the writers' lock like every other change of a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatservice.errors import NotFound
from chatservice.models import DELETED, DELETED_USERNAME, Account, Change, TimelineEvent, User
from chatservice.store import mention_queries, message_queries, reaction_queries, upload_queries
from chatservice.store.database import Txn
from chatservice.store.in_lists import chunks, in_list
from chatservice.store.timeline_queries import _insert_event

_ACCOUNT = (
    "id, username, created_at, token_generation, account_version, is_admin,"
    " disabled_at, deleted_at"
)
_BY_ID = f"SELECT {_ACCOUNT} FROM users WHERE id = :id"
_BY_IDS = f"SELECT {_ACCOUNT} FROM users WHERE id IN ({{ids}})"
_REVOKED_OF = (
    "SELECT user_id, session FROM revoked_sessions WHERE user_id IN ({ids}) AND expires_at > :now"
)
_BUMP = "account_version = account_version + 1"
_LIVE = "id = :id AND deleted_at IS NULL"


def account_row(row: tuple[Any, ...], revoked: frozenset[str] = frozenset()) -> Account:
    """An ``_ACCOUNT`` row as an ``Account``."""
    return Account(
        user=User(int(row[0]), row[1], int(row[2])),
        generation=int(row[3]),
        version=int(row[4]),
        admin=bool(row[5]),
        disabled_at=None if row[6] is None else int(row[6]),
        deleted_at=None if row[7] is None else int(row[7]),
        revoked=revoked,
    )


def deleted_username_key(user_id: int) -> str:
    """The ``username_key`` of a deleted account: unique, and never a registrable name's.

    Registration keys are the casefold of ``[A-Za-z0-9_.-]`` names, which
    never hold a space: the old name is free, this key can never be logged in.
    """
    return f"{DELETED_USERNAME} #{user_id}"


def get_accounts(txn: Txn, user_ids: Sequence[int], now: int) -> dict[int, Account]:
    """The accounts of ``user_ids`` that exist, with their unexpired revoked sessions."""
    rows: dict[int, tuple[Any, ...]] = {}
    revoked: dict[int, set[str]] = {}
    for chunk in chunks(user_ids):
        placeholders, params = in_list("id", chunk)
        for row in txn.query(_BY_IDS.format(ids=placeholders), params):
            rows[int(row[0])] = row
        for user_id, session in txn.query(
            _REVOKED_OF.format(ids=placeholders), {**params, "now": now}
        ):
            revoked.setdefault(int(user_id), set()).add(str(session))
    return {
        user_id: account_row(row, frozenset(revoked.get(user_id, ())))
        for user_id, row in rows.items()
    }


def list_accounts(
    txn: Txn, query: str | None, after: int, limit: int, admins_only: bool
) -> list[Account]:
    """A page of accounts in id order, filtered by a username substring and the admin right."""
    conditions = ["id > :after"]
    params: dict[str, object] = {"after": after, "limit": limit}
    if query:
        conditions.append("username_key LIKE :pattern ESCAPE '!'")
        params["pattern"] = "%" + like_escaped(query.casefold()) + "%"
    if admins_only:
        conditions.append("is_admin = :admin")
        params["admin"] = True
    where = " AND ".join(conditions)
    sql = f"SELECT {_ACCOUNT} FROM users WHERE {where} ORDER BY id LIMIT :limit"
    return [account_row(row) for row in txn.query(sql, params)]


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character ``!``) taken literally."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _account(txn: Txn, user_id: int, now: int | None = None) -> Account:
    """The account as it is now (revoked sessions only when ``now`` is given); ``NotFound``."""
    row = txn.query_one(_BY_ID, {"id": user_id})
    if row is None or row[7] is not None:
        raise NotFound("No such user.")
    if now is None:
        return account_row(row)
    return get_accounts(txn, [user_id], now)[user_id]


def revoke_session(txn: Txn, user_id: int, session: str, expires_at: int, now: int) -> Account:
    """Record one revoked session (once), forget expired ones, bump the version."""
    txn.execute("DELETE FROM revoked_sessions WHERE expires_at <= :now", {"now": now})
    known = txn.query_one(
        "SELECT 1 FROM revoked_sessions WHERE session = :session", {"session": session}
    )
    if known is None:
        txn.execute(f"UPDATE users SET {_BUMP} WHERE {_LIVE}", {"id": user_id})
        _account(txn, user_id)  # NotFound before the insert's foreign key would say it
        txn.execute(
            "INSERT INTO revoked_sessions (session, user_id, expires_at, revoked_at)"
            " VALUES (:session, :user_id, :expires_at, :now) ON CONFLICT (session) DO NOTHING",
            {"session": session, "user_id": user_id, "expires_at": expires_at, "now": now},
        )
    return _account(txn, user_id, now)


def revoke_all_sessions(txn: Txn, user_id: int) -> Account:
    """Bump the token generation; the sessions revoked one by one go with the old tokens."""
    txn.execute(
        f"UPDATE users SET token_generation = token_generation + 1, {_BUMP} WHERE {_LIVE}",
        {"id": user_id},
    )
    account = _account(txn, user_id)
    txn.execute("DELETE FROM revoked_sessions WHERE user_id = :id", {"id": user_id})
    return account


def set_password(txn: Txn, user_id: int, password_hash: bytes) -> Account:
    """Replace the hash and revoke every token issued so far."""
    txn.execute(
        "UPDATE users SET password_hash = :hash WHERE " + _LIVE,
        {"hash": bytes(password_hash), "id": user_id},
    )
    return revoke_all_sessions(txn, user_id)


def set_disabled(txn: Txn, user_id: int, disabled_at: int | None) -> Account:
    """Disable (since ``disabled_at``) or enable; a repeat changes nothing, not the version."""
    state = "disabled_at IS NULL" if disabled_at is not None else "disabled_at IS NOT NULL"
    txn.execute(
        f"UPDATE users SET disabled_at = :at, {_BUMP} WHERE {_LIVE} AND {state}",
        {"at": disabled_at, "id": user_id},
    )
    return _account(txn, user_id)


def set_admin(txn: Txn, username: str, admin: bool) -> Account:
    """Grant or take away the admin right of the user of that name (case-insensitively)."""
    key = {"key": username.casefold()}
    row = txn.query_one("SELECT id FROM users WHERE username_key = :key", key)
    if row is None:
        raise NotFound("No such user.")
    user_id = int(row[0])
    txn.execute(
        f"UPDATE users SET is_admin = :admin, {_BUMP} WHERE {_LIVE}",
        {"admin": admin, "id": user_id},
    )
    return _account(txn, user_id)


def delete_account(txn: Txn, user_id: int, deleted_at: int) -> Account:
    """Rename the row, empty its hash, revoke its tokens, sessions and pushes, mark it deleted."""
    revoke_all_sessions(txn, user_id)  # NotFound for a missing or deleted account
    # The browsers of a deleted account hear nothing more.
    txn.execute("DELETE FROM push_subscriptions WHERE user_id = :id", {"id": user_id})
    txn.execute(
        "UPDATE users SET username = :name, username_key = :key, password_hash = :hash,"
        " is_admin = :admin, disabled_at = NULL, deleted_at = :at WHERE id = :id",
        {
            "name": DELETED_USERNAME,
            "key": deleted_username_key(user_id),
            "hash": b"",
            "admin": False,
            "at": deleted_at,
            "id": user_id,
        },
    )
    row = txn.query_one(_BY_ID, {"id": user_id})
    assert row is not None
    return account_row(row)


_ERASABLE = (
    "SELECT id, deleted, username FROM messages"
    " WHERE sender_id = :sender_id AND id > :after ORDER BY id"
)


def erase_messages(
    txn: Txn,
    user_id: int,
    eraser_id: int,
    limit: int,
    ts: int,
    rename: str | None,
    after: int,
) -> list[Change]:
    """Tombstone (and rename) up to ``limit`` of the user's messages past ``after``.

    The rows are walked in id order from ``after`` (the last id of the
    previous page), so a whole erasure reads the messages table once, with
    no index on the sender: erasures are rare, and every index on messages
    slows every post.
    """
    if txn.query_one("SELECT id FROM users WHERE id = :id", {"id": user_id}) is None:
        raise NotFound("No such user.")
    txn.lock_writers()
    erased: list[int] = []
    for message_id, deleted, username in txn.rows(
        _ERASABLE, {"sender_id": user_id, "after": after}
    ):
        if bool(deleted) and (rename is None or username == rename):
            continue
        erased.append(int(message_id))
        if len(erased) == limit:
            break
    event_ids: list[tuple[int, int]] = []
    for message in message_queries.messages_by_ids(txn, erased):
        event_ids.append((_insert_event(txn, message, DELETED, eraser_id, ts), message.id))
        txn.execute(
            "UPDATE messages SET content = '', sealed = NULL, deleted = :deleted,"
            " username = :username"
            " WHERE id = :id",
            {"deleted": True, "username": rename or message.username, "id": message.id},
        )
        reaction_queries.remove_all(txn, message.id)
        mention_queries.remove_mentions(txn, message.id)
        upload_queries.detach(txn, message.id)
    current = {m.id: m for m in message_queries.messages_by_ids(txn, erased)}
    return [
        Change(TimelineEvent(event_id, DELETED, current[message_id]), changed=True)
        for event_id, message_id in event_ids
    ]
