"""The store interface and ``open_store``, which picks a backend from a URL.

Every backend returns Deferreds and raises only our errors (``NotFound``,
``Conflict``, ``StoreUnavailable`` and its ``StoreFull``/``StoreReadOnly``),
never a driver's, so use cases work the same on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import Interface

if TYPE_CHECKING:
    from chatservice.keyring import KeyRing
    from chatservice.store.sealing import Sealing

from chatservice import models
from chatservice.errors import ChatError, StoreUnavailable
from chatservice.store.access_interface import IAccessStore
from chatservice.store.account_store import IAccountStore
from chatservice.store.hook_interface import IHookStore
from chatservice.store.push_store import IPushStore
from chatservice.store.read_interface import IReadStore


class UnsupportedStoreURL(ChatError):
    """``DATABASE_URL`` names a backend this build cannot open."""


class IChatStore(IAccessStore, IAccountStore, IPushStore, IReadStore, IHookStore):
    """Users, rooms and messages, durable or not depending on the backend.

    Memberships, room settings and the audit log are ``IAccessStore``'s;
    accounts (token generations, sessions, admins) are ``IAccountStore``'s;
    webhooks and bots are ``IHookStore``'s; Web Push subscriptions are
    ``IPushStore``'s; read markers and unread counts ``IReadStore``'s.
    """

    def start() -> Deferred[None]:
        """Open connections and bring the schema up to date.

        Fires when the store can serve; fails if it cannot (e.g. a schema newer
        than this code).
        """

    def close() -> Deferred[None]:
        """Release connections; fires when they are closed."""

    def ping() -> Deferred[None]:
        """Fire when the store answers; fail with ``StoreUnavailable`` otherwise."""

    def create_user(username: str, password_hash: bytes, created_at: int) -> Deferred[models.User]:
        """Store a new account.

        Fails with ``Conflict`` if the name is taken (case-insensitively).
        """

    def get_user(user_id: int) -> Deferred[models.User]:
        """Fire with the user; fail with ``NotFound``."""

    def get_credentials(username: str) -> Deferred[models.Credentials]:
        """Fire with the user (looked up case-insensitively) and its hash; ``NotFound``."""

    def create_room(new: models.NewRoom) -> Deferred[models.Room]:
        """Store a new room; fail with ``Conflict`` if the name is taken (case-insensitively).

        Its creator (if any) joins it as its ``owner`` in the same transaction.
        """

    def ensure_room(name: str, description: str, created_at: int) -> Deferred[models.Room]:
        """Fire with the room of that name, creating it (with no creator) if missing."""

    def get_room(room_id: int) -> Deferred[models.Room]:
        """Fire with the room; fail with ``NotFound`` (also for a deleted room)."""

    def list_rooms() -> Deferred[Sequence[models.Room]]:
        """Fire with every room that is not deleted, public and private, ordered by id."""

    def add_messages(messages: Sequence[models.NewMessage]) -> Deferred[Sequence[models.Posted]]:
        """Store messages in one transaction, in order; fire after the commit.

        Each new message is a ``message`` event of its room: its id is the
        event's, from the one sequence all events share. A ``reply_to`` must
        name a message of the same room (a tombstone will do; an earlier
        message of the batch too), else the batch fails with ``NotFound``;
        the stored message carries its ``reply_preview``. Each message's
        ``mentions`` are stored with it (they name existing users).

        A message whose ``client_msg_id`` was already used by the same sender in
        the same room is not stored again: its ``Posted`` carries the original
        with ``created=False``. Ids are strictly increasing in commit order.
        Fails with ``NotFound`` if a room does not exist.
        """

    def get_messages(
        room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[models.Message]]:
        """Fire with messages of a room, oldest first.

        Without ``after``: the newest ``limit`` messages (with ``id < before``
        if given). With ``after``: the oldest ``limit`` messages with
        ``id > after``. Does not check that the room exists.
        """

    def get_message(message_id: int) -> Deferred[models.Message]:
        """Fire with one message in its current state; fail with ``NotFound``."""

    def edit_message(
        message_id: int,
        editor_id: int,
        content: str,
        edited_at: int,
        mentions: Sequence[int] | None = None,
    ) -> Deferred[models.Change]:
        """Replace a message's content, as a new ``edit`` event of its room.

        ``mentions`` (resolved from the new content by ``mentions.py``)
        replace the message's mentions in the same transaction; None keeps them.

        Only the author may edit (``Forbidden``); an unknown or deleted
        message is ``NotFound``. The same content again stores nothing
        (``changed=False``). Concurrent edits of one message are serialised:
        the one with the higher event id is the content that stays.
        """

    def delete_message(
        message_id: int, deleter_id: int, deleted_at: int, any_author: bool = False
    ) -> Deferred[models.Change]:
        """Turn a message into a tombstone, as a new ``delete`` event.

        Only the author may delete (``Forbidden``), unless ``any_author``
        (a moderator, whose right the use case checked); unknown is ``NotFound``.
        The content, reactions and mentions are removed from the store, not hidden;
        the id, sender and place stay. Deleting a tombstone stores nothing
        (``changed=False``).
        """

    def set_reaction(
        message_id: int, user_id: int, emoji: str, present: bool, ts: int
    ) -> Deferred[models.Change]:
        """Add (``present``) or remove a user's reaction, as a ``react``/``unreact`` event.

        An unknown or deleted message is ``NotFound``. Adding a reaction that
        is there, or removing one that is not, stores nothing
        (``changed=False``). Past ``MAX_REACTIONS_PER_MESSAGE`` distinct
        emoji on the message, or ``MAX_REACTIONS_PER_USER`` of this user on
        it, adding is ``TooManyReactions``.
        """

    def get_events(
        room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[models.TimelineEvent]]:
        """Fire with the oldest ``limit`` events of a room with ``id > after``, in id order.

        Each carries its message in its current state. Does not check that
        the room exists.
        """

    def search_messages(
        query: str, room_ids: Sequence[int] | None, before: int | None, limit: int
    ) -> Deferred[Sequence[models.Message]]:
        """Fire with the newest ``limit`` messages containing every word of ``query``.

        A word is a run of letters and digits; it matches whole words of the
        content, case-insensitively, with no diacritics folding (``cafe``
        does not find ``café``), so every backend finds the same messages.
        ``query`` is plain text: quotes, ``*``, ``NEAR`` or ``-`` are never
        search syntax, and a query without words finds nothing. Only
        messages of ``room_ids`` (every room when None), never tombstones,
        and only ``id < before`` when given; newest first (id descending),
        each in its current state. Does not check that the rooms exist.
        """


class IWriteState(Interface):
    """A store that can tell it is refusing writes (a full disk, a read-only database).

    Optional: a store without it (``MemoryStore``) always can write. Use
    ``IWriteState(store, None)`` to ask.
    """

    def write_fault() -> StoreUnavailable | None:
        """The error writes fail with right now (``StoreFull``, ``StoreReadOnly``), or None.

        Set by the first refused write and cleared by the next write that
        commits: reads never change it.
        """


def open_store(url: str, clock: IReactorTime, ring: KeyRing | None = None) -> IChatStore:
    """Build the store that ``DATABASE_URL`` names; it still needs ``start()``.

    ``memory:`` is the in-memory store; ``sqlite:///relative/path`` and
    ``sqlite:////absolute/path`` a SQLite file; ``postgresql://...`` (or
    ``postgres://...``) a PostgreSQL database through psycopg 3. Nothing is
    opened here: ``start()`` connects and migrates. ``ring`` (from
    ``ENCRYPTION_KEY``) seals message text at rest (``store.sealing``).

    Raises:
        UnsupportedStoreURL: the URL names no backend this build has.
    """
    from chatservice.store.memory import MemoryStore
    from chatservice.store.sealing import Sealing

    sealing = Sealing(ring)
    if url == "memory:" or url.startswith("memory:"):
        return MemoryStore(clock, sealing)
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return _open_sqlite(url, clock, sealing)
    if scheme in ("postgresql", "postgres"):
        return _open_postgresql(url, clock, sealing)
    raise UnsupportedStoreURL(
        f"unsupported DATABASE_URL {redact_url(url)!r}; this build supports "
        "'memory:', 'sqlite:///relative/path', 'sqlite:////absolute/path' and "
        "'postgresql://user:password@host:port/database'"
    )


_SQLITE_PREFIX = "sqlite:///"


def _open_sqlite(url: str, clock: IReactorTime, sealing: Sealing) -> IChatStore:
    from chatservice.store.sql import SQLStore

    return SQLStore.sqlite(sqlite_path(url), clock, sealing=sealing)


def sqlite_path(url: str) -> str:
    """Return the file path a ``sqlite:///`` URL names.

    Shared by ``open_store`` and the ``copystore`` command, so both read
    ``DATABASE_URL`` the same way.

    Raises:
        UnsupportedStoreURL: the URL is not a ``sqlite:///`` URL naming a file.
    """
    from urllib.parse import unquote

    if not url.lower().startswith(_SQLITE_PREFIX):
        raise UnsupportedStoreURL(
            f"a SQLite DATABASE_URL has three slashes before a relative path and four before "
            f"an absolute one (sqlite:///chat.sqlite3, sqlite:////var/lib/chat.sqlite3), "
            f"not {redact_url(url)!r}"
        )
    raw_path = url[len(_SQLITE_PREFIX) :]
    if "?" in raw_path or "#" in raw_path:
        raise UnsupportedStoreURL(
            "a SQLite DATABASE_URL takes no query or fragment; percent-encode '?' and '#' "
            "in file names"
        )
    path = unquote(raw_path)
    if not path or path.endswith("/"):
        raise UnsupportedStoreURL(f"the SQLite DATABASE_URL {url!r} names no file")
    if path == ":memory:":
        # Every reconnect of the pool would start from an empty database.
        raise UnsupportedStoreURL("use DATABASE_URL=memory: for a store that is not kept")
    return path


def _open_postgresql(url: str, clock: IReactorTime, sealing: Sealing) -> IChatStore:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise UnsupportedStoreURL(
            f"{redact_url(url)!r} needs the PostgreSQL driver: "
            "pip install 'chatservice[postgresql]'"
        ) from None
    from chatservice.store.sql import SQLStore

    return SQLStore.postgresql(url, clock, sealing=sealing)


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced, safe to log."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}:***@{netloc}")
    if parts.query:
        # libpq also takes ?password=... (and sslpassword=...).
        fields = parts.query.split("&")
        hidden = [
            f"{name}=***" if "password" in name.lower() else f"{name}={value}" if sep else name
            for name, sep, value in (field.partition("=") for field in fields)
        ]
        parts = parts._replace(query="&".join(hidden))
    if parts == urlsplit(url):
        return url  # unsplitting would rewrite e.g. sqlite:///x as sqlite:/x
    return urlunsplit(parts)
