"""The SQL of access control: memberships, direct rooms, room settings, the audit log.

Each function runs in a pool thread inside one ``Database`` transaction
(``sql_access.SQLAccess`` runs them). A membership or settings change takes
its event id from the messages sequence under the writers' lock, as the
timeline's changes do (``timeline_queries``), so ids stay in commit order.
"""

from __future__ import annotations

import json
from typing import Any

from chatservice import access_models
from chatservice.errors import Conflict, NotFound
from chatservice.models import Room
from chatservice.store import timeline_queries
from chatservice.store.account_queries import like_escaped
from chatservice.store.database import Txn

ROOM_COLUMNS = "id, name, description, created_by, created_at, visibility, archived, direct_key"
LIVE_ROOM = f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = :id AND NOT deleted"
_MEMBER = (
    "SELECT m.room_id, m.user_id, u.username, m.state, m.role, m.muted, m.updated_at"
    " FROM members m JOIN users u ON u.id = m.user_id"
)
_EVENT = "SELECT id, room_id, kind, user_id, actor_id, ts, detail FROM member_events"
_AUDIT = "SELECT id, actor_id, action, at, target_user_id, room_id, reason FROM audit_log"


def room_row(row: tuple[Any, ...]) -> Room:
    """A ``Room`` from ``ROOM_COLUMNS``."""
    created_by = None if row[3] is None else int(row[3])
    return Room(
        int(row[0]),
        row[1],
        row[2],
        created_by,
        int(row[4]),
        row[5],
        bool(row[6]),
        row[7] is not None,
    )


def _member(row: tuple[Any, ...]) -> access_models.Member:
    return access_models.Member(
        int(row[0]), int(row[1]), row[2], row[3], row[4], bool(row[5]), int(row[6])
    )


def _event(row: tuple[Any, ...]) -> access_models.MemberEvent:
    user_id = None if row[3] is None else int(row[3])
    actor_id = None if row[4] is None else int(row[4])
    return access_models.MemberEvent(
        int(row[0]), int(row[1]), row[2], user_id, actor_id, int(row[5]), json.loads(row[6])
    )


def live_room(txn: Txn, room_id: int) -> Room:
    """The room, unless it does not exist or was deleted (``NotFound``)."""
    row = txn.query_one(LIVE_ROOM, {"id": room_id})
    if row is None:
        raise NotFound("No such room.")
    return room_row(row)


def _user_exists(txn: Txn, user_id: int | None) -> None:
    if (
        user_id is not None
        and txn.query_one("SELECT 1 FROM users WHERE id = :id", {"id": user_id}) is None
    ):
        raise NotFound("No such user.")


def put_member(
    txn: Txn, room_id: int, user_id: int, state: str, role: str, muted: bool, ts: int
) -> None:
    """Insert or overwrite one membership row."""
    txn.execute(
        "INSERT INTO members (room_id, user_id, state, role, muted, updated_at)"
        " VALUES (:room_id, :user_id, :state, :role, :muted, :ts)"
        " ON CONFLICT (room_id, user_id) DO UPDATE SET state = excluded.state,"
        " role = excluded.role, muted = excluded.muted, updated_at = excluded.updated_at",
        {
            "room_id": room_id,
            "user_id": user_id,
            "state": state,
            "role": role,
            "muted": muted,
            "ts": ts,
        },
    )


def get_member(txn: Txn, room_id: int, user_id: int) -> access_models.Member | None:
    """The membership row, or None."""
    row = txn.query_one(
        _MEMBER + " WHERE m.room_id = :room_id AND m.user_id = :user_id",
        {"room_id": room_id, "user_id": user_id},
    )
    return None if row is None else _member(row)


def room_and_member(
    txn: Txn, room_id: int, user_id: int
) -> tuple[Room, access_models.Member | None]:
    """The live room and the user's row in it, in one transaction; ``NotFound``."""
    return live_room(txn, room_id), get_member(txn, room_id, user_id)


def room_without_member(txn: Txn, room_id: int) -> tuple[Room, access_models.Member | None]:
    """The live room of a user id no row can have (out of range); ``NotFound``."""
    return live_room(txn, room_id), None


def list_members(txn: Txn, room_id: int) -> list[access_models.Member]:
    """Every row of the room, by user id."""
    rows = txn.query(
        _MEMBER + " WHERE m.room_id = :room_id ORDER BY m.user_id", {"room_id": room_id}
    )
    return [_member(row) for row in rows]


def memberships_of(txn: Txn, user_id: int) -> list[access_models.Member]:
    """Every row of the user, by room id."""
    rows = txn.query(
        _MEMBER + " WHERE m.user_id = :user_id ORDER BY m.room_id", {"user_id": user_id}
    )
    return [_member(row) for row in rows]


def record_event(
    txn: Txn,
    room_id: int,
    kind: str,
    user_id: int | None,
    actor_id: int | None,
    ts: int,
    detail: dict[str, Any],
) -> access_models.MemberEvent:
    """Store a member event with the next timeline id (the caller holds the writers' lock)."""
    event_id = timeline_queries.take_event_id(txn)
    event = access_models.MemberEvent(event_id, room_id, kind, user_id, actor_id, ts, detail)
    txn.execute(
        "INSERT INTO member_events (id, room_id, kind, user_id, actor_id, detail, ts)"
        " VALUES (:id, :room_id, :kind, :user_id, :actor_id, :detail, :ts)",
        {
            "id": event.id,
            "room_id": room_id,
            "kind": kind,
            "user_id": user_id,
            "actor_id": actor_id,
            "detail": event.detail_json(),
            "ts": ts,
        },
    )
    return event


def change_member(
    txn: Txn, room_id: int, user_id: int, update: access_models.MemberUpdate
) -> access_models.MemberChange:
    """Set the given fields of a membership; record the event if anything changed."""
    txn.lock_writers()
    live_room(txn, room_id)
    _user_exists(txn, user_id)
    _user_exists(txn, update.actor_id)
    old = get_member(txn, room_id, user_id)
    new_state, new_role, new_muted = access_models.settled(
        old, update.state, update.role, update.muted
    )
    if old is not None and (old.state, old.role, old.muted) == (new_state, new_role, new_muted):
        return access_models.MemberChange(old, None)
    put_member(txn, room_id, user_id, new_state, new_role, new_muted, update.ts)
    event = record_event(
        txn, room_id, update.kind, user_id, update.actor_id, update.ts, dict(update.detail)
    )
    member = get_member(txn, room_id, user_id)
    assert member is not None
    return access_models.MemberChange(member, event)


def open_direct(txn: Txn, user_a: int, user_b: int, key: str, name_key: str, ts: int) -> Room:
    """The two users' private room, created (both joined) if missing."""
    txn.lock_writers()
    users = txn.query(
        "SELECT id, username FROM users WHERE id IN (:a, :b) ORDER BY username",
        {"a": user_a, "b": user_b},
    )
    if len(users) != len({user_a, user_b}):
        raise NotFound("No such user.")
    row = txn.query_one(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE direct_key = :key", {"key": key})
    if row is not None:
        return room_row(row)
    room_id = txn.insert(
        "INSERT INTO rooms (name, name_key, description, created_by, created_at, visibility,"
        " direct_key) VALUES (:name, :name_key, '', NULL, :ts, :visibility, :key)",
        {
            "name": " & ".join(str(u[1]) for u in users),
            "name_key": name_key,
            "ts": ts,
            "visibility": access_models.PRIVATE,
            "key": key,
        },
    )
    for user_id in sorted({user_a, user_b}):
        put_member(txn, room_id, user_id, access_models.JOINED, access_models.MEMBER, False, ts)
    return live_room(txn, room_id)


def rooms_of(txn: Txn, user_id: int) -> list[Room]:
    """Public rooms and the private ones the user joined or was invited to."""
    rows = txn.query(
        f"SELECT {ROOM_COLUMNS} FROM rooms WHERE NOT deleted AND (visibility = 'public' OR id IN"
        " (SELECT room_id FROM members WHERE user_id = :user_id AND state IN (:joined, :invited)))"
        " ORDER BY id",
        {"user_id": user_id, "joined": access_models.JOINED, "invited": access_models.INVITED},
    )
    return [room_row(row) for row in rows]


def find_rooms(txn: Txn, query: str | None, after: int, limit: int) -> list[Room]:
    """A page of every live room by id, filtered by a part of its name.

    A room's ``name_key`` is its casefolded name, but a direct room's is a
    key of its two user ids: its name ("alice & bob") is made of usernames,
    which are ASCII, so ``LOWER`` matches it as casefolding would.
    """
    conditions = ["id > :after", "NOT deleted"]
    params: dict[str, object] = {"after": after, "limit": limit}
    if query:
        conditions.append(
            "(name_key LIKE :pattern ESCAPE '!'"
            " OR (direct_key IS NOT NULL AND LOWER(name) LIKE :pattern ESCAPE '!'))"
        )
        params["pattern"] = "%" + like_escaped(query.casefold()) + "%"
    where = " AND ".join(conditions)
    rows = txn.query(
        f"SELECT {ROOM_COLUMNS} FROM rooms WHERE {where} ORDER BY id LIMIT :limit", params
    )
    return [room_row(row) for row in rows]


def update_room(
    txn: Txn,
    room_id: int,
    actor_id: int | None,
    ts: int,
    name: str | None,
    description: str | None,
    archived: bool | None,
) -> tuple[Room, access_models.MemberEvent | None]:
    """Change the settings given; record one event saying what changed."""
    txn.lock_writers()
    room = live_room(txn, room_id)
    changes: dict[str, Any] = {}
    if name is not None and name != room.name:
        changes["name"] = name
    if description is not None and description != room.description:
        changes["description"] = description
    if archived is not None and archived != room.archived:
        changes["archived"] = archived
    if not changes:
        return room, None
    params: dict[str, object] = {
        "id": room_id,
        "description": changes.get("description", room.description),
        "archived": changes.get("archived", room.archived),
    }
    set_name = ""
    if "name" in changes:
        key = str(changes["name"]).casefold()
        taken = txn.query_one(
            "SELECT id FROM rooms WHERE name_key = :key AND id <> :id", {"key": key, "id": room_id}
        )
        if taken is not None:
            raise Conflict("That room name is already taken.")
        set_name = ", name = :name, name_key = :key"
        params.update(name=changes["name"], key=key)
    txn.execute(
        f"UPDATE rooms SET description = :description, archived = :archived{set_name}"
        " WHERE id = :id",
        params,
    )
    kind = "room_archived" if "archived" in changes else "room_updated"
    event = record_event(txn, room_id, kind, None, actor_id, ts, changes)
    return live_room(txn, room_id), event


def delete_room(txn: Txn, room_id: int) -> None:
    """Mark the room deleted and free its name."""
    live_room(txn, room_id)
    txn.execute(
        "UPDATE rooms SET deleted = :deleted, name_key = :key WHERE id = :id",
        {"deleted": True, "key": f"\x01deleted:{room_id}", "id": room_id},
    )


def get_member_events(
    txn: Txn, room_id: int, after: int, limit: int
) -> list[access_models.MemberEvent]:
    """The room's member events after ``after``, oldest first."""
    rows = txn.query(
        _EVENT + " WHERE room_id = :room_id AND id > :after ORDER BY id LIMIT :limit",
        {"room_id": room_id, "after": after, "limit": limit},
    )
    return [_event(row) for row in rows]


def add_audit(txn: Txn, entry: access_models.NewAuditEntry) -> access_models.AuditEntry:
    """Append one action to the log."""
    entry_id = txn.insert(
        "INSERT INTO audit_log (at, actor_id, action, target_user_id, room_id, reason)"
        " VALUES (:at, :actor_id, :action, :target_user_id, :room_id, :reason)",
        {
            "at": entry.at,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "target_user_id": entry.target_user_id,
            "room_id": entry.room_id,
            "reason": entry.reason,
        },
    )
    return access_models.AuditEntry(
        entry_id,
        entry.actor_id,
        entry.action,
        entry.at,
        entry.target_user_id,
        entry.room_id,
        entry.reason,
    )


def list_audit(
    txn: Txn, room_id: int | None, before: int | None, limit: int
) -> list[access_models.AuditEntry]:
    """Newest first: a room's actions (or all), with ids below ``before``."""
    where = ["1 = 1"]
    params: dict[str, object] = {"limit": limit}
    if room_id is not None:
        where.append("room_id = :room_id")
        params["room_id"] = room_id
    if before is not None:
        where.append("id < :before")
        params["before"] = before
    rows = txn.query(
        _AUDIT + f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :limit", params
    )
    return [
        access_models.AuditEntry(
            int(r[0]),
            None if r[1] is None else int(r[1]),
            r[2],
            int(r[3]),
            None if r[4] is None else int(r[4]),
            None if r[5] is None else int(r[5]),
            r[6],
        )
        for r in rows
    ]
