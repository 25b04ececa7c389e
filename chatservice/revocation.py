"""Whether a token still works, decided in memory on every process, and kept current.

A token is refused once its user's token generation moved past the one it
carries (logout-all, a password change, a deletion), once its own session
was logged out, while its account is disabled, and once its account is
deleted. Reading that from the store on every request (or frame) would
put a query on the hot path, so each process keeps the ``Account`` of the
users it sees, in a bounded cache:

* filled on a user's first request or handshake in the process (one read);
* kept current by a control event (``ACCOUNT_CHANGED``, through the hub)
  that every change publishes with the whole new account; each copy has a
  ``version``, and the newer of two copies wins, so a read that raced an
  event cannot bring an old state back;
* re-read when older than ``refresh_after`` seconds, at the next request.

An event can be lost (pub/sub is at-most-once: a Redis outage, a process
that was reconnecting). That costs at most ``refresh_after`` seconds: REST
requests and handshakes re-read a stale entry, and every ``refresh_after``
seconds a sweep re-reads, in batched queries of ``SWEEP_CHUNK`` users, the
accounts of the users with sockets on this process and closes the sockets
they refuse. When the hub's control channel comes back after an outage the
cache is marked stale and a sweep runs at once. Sockets are never checked per frame: they are
closed (``CLOSE_SESSION_REVOKED``, ``CLOSE_ACCOUNT_DISABLED``) when an event
or a sweep finds them refused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.errors import AccountDisabled, ChatError, SessionRevoked, Unauthorized
from chatservice.models import Account, User
from chatservice.store.account_store import IAccountStore
from chatservice.store.in_lists import chunks
from chatservice.tokens import Identity

# How long a cached account is trusted without a control event, in seconds:
# the bound on a revocation whose event was lost (docs/protocol.md).
REFRESH_SECONDS = 30.0
# Users per read of a sweep. The reads go one after another, so none holds
# the store for long: on SQLite, message commits share the one connection
# and wait behind a read (500 accounts in one read took 15 ms in S2).
SWEEP_CHUNK = 100
# Accounts cached per process; the least recently seen go first (and are
# read again on their next request).
MAX_ACCOUNTS = 100_000
# WebSocket close codes (docs/protocol.md's close-code table).
CLOSE_SESSION_REVOKED = 4001
CLOSE_ACCOUNT_DISABLED = 4002
# The control event every account change publishes.
ACCOUNT_CHANGED = "account"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an account refuses a token: the error for a request, the close for a socket."""

    error: ChatError
    close_code: int
    close_reason: str


def refusal_of(account: Account, identity: Identity) -> Refusal | None:
    """Whether ``account`` (as known) refuses the token ``identity`` came from, and how.

    A token of a newer generation than the account is not refused here: the
    account is the one that is behind (``Revocation.check`` reads it again).
    """
    if account.deleted:
        error = Unauthorized("The token's user does not exist.")
        return Refusal(error, CLOSE_SESSION_REVOKED, "account deleted")
    if account.disabled:
        return Refusal(AccountDisabled(), CLOSE_ACCOUNT_DISABLED, "account disabled")
    if identity.generation < account.generation or (
        identity.session is not None and identity.session in account.revoked
    ):
        return Refusal(SessionRevoked(), CLOSE_SESSION_REVOKED, "session revoked")
    return None


def account_event(account: Account) -> dict[str, Any]:
    """The fields of an ``ACCOUNT_CHANGED`` event: the whole account, never a password."""
    user = account.user
    return {
        "user": [user.id, user.username, user.created_at],
        "generation": account.generation,
        "version": account.version,
        "admin": account.admin,
        "disabled_at": account.disabled_at,
        "deleted_at": account.deleted_at,
        "revoked": sorted(account.revoked),
    }


def account_from_event(event: Mapping[str, Any]) -> Account:
    """The ``Account`` an ``ACCOUNT_CHANGED`` event carries.

    Raises:
        ValueError, KeyError, TypeError: not such an event (``Control`` logs it).
    """
    user_id, username, created_at = event["user"]
    disabled_at, deleted_at = event["disabled_at"], event["deleted_at"]
    return Account(
        user=User(int(user_id), str(username), int(created_at)),
        generation=int(event["generation"]),
        version=int(event["version"]),
        admin=bool(event["admin"]),
        disabled_at=None if disabled_at is None else int(disabled_at),
        deleted_at=None if deleted_at is None else int(deleted_at),
        revoked=frozenset(str(session) for session in event["revoked"]),
    )


class ControlChannel(Protocol):
    """What ``Revocation`` needs of ``control.Control``: events to and from every process."""

    def on(self, kind: str, handler: Callable[[dict[str, Any]], object]) -> None:
        """Call ``handler`` with every event of type ``kind``."""

    def on_restored(self, handler: Callable[[], object]) -> None:
        """Call ``handler`` when events flow again after some may have been lost."""

    def publish(self, kind: str, **fields: Any) -> None:
        """Send an event to every process, this one included."""


class SocketIdentity(Protocol):
    """What a socket's session tells (``websocket.SocketSession`` is one)."""

    @property
    def identity(self) -> Identity:
        """Whose token opened the socket."""


class RevocableSocket(Protocol):
    """What ``Revocation`` needs of a socket (``websocket.ChatServerProtocol`` is one)."""

    @property
    def session(self) -> SocketIdentity:
        """The socket's session, fixed at the handshake."""

    def close_with(self, code: int, reason: str) -> None:
        """Send a close frame with ``code`` and ``reason``."""


@dataclass(slots=True)
class _Entry:
    account: Account
    fresh_until: float


class Revocation:
    """The cache of accounts that every token check reads, kept current across processes."""

    log = Logger()

    def __init__(
        self,
        store: IAccountStore,
        clock: IReactorTime,
        *,
        refresh_after: float = REFRESH_SECONDS,
        max_accounts: int = MAX_ACCOUNTS,
    ) -> None:
        self._store = store
        self._clock = clock
        self.refresh_after = refresh_after
        self._max_accounts = max_accounts
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._loading: dict[int, list[Deferred[Account]]] = {}
        self._control: ControlChannel | None = None
        self._sockets: Callable[[], Iterable[RevocableSocket]] = tuple
        self._sweeper: LoopingCall | None = None

    def __len__(self) -> int:
        """How many accounts are cached (for tests of the bound)."""
        return len(self._entries)

    def attach(
        self, control: ControlChannel, sockets: Callable[[], Iterable[RevocableSocket]]
    ) -> None:
        """Hear every process's account changes, and close this process's ``sockets``."""
        self._control = control
        self._sockets = sockets
        control.on(ACCOUNT_CHANGED, self._received)
        control.on_restored(self.restored)

    def start(self) -> None:
        """Sweep the sockets' accounts every ``refresh_after`` seconds from now on."""
        self._sweeper = LoopingCall(self.sweep)
        self._sweeper.clock = self._clock
        self._sweeper.start(self.refresh_after, now=False)

    def stop(self) -> None:
        """Stop sweeping."""
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()

    # -- checking ----------------------------------------------------------------

    async def check(self, identity: Identity) -> Account:
        """Return the account of a verified token's user if it accepts the token.

        No store read while the account is cached and fresh.

        Raises:
            Unauthorized: the user does not exist (or was deleted).
            SessionRevoked: the token was logged out.
            AccountDisabled: a server admin disabled the account.
        """
        entry = self._entries.get(identity.user_id)
        if (
            entry is None
            or entry.fresh_until <= self._clock.seconds()
            or identity.generation > entry.account.generation
        ):
            account = await self.load(identity.user_id)
        else:
            self._entries.move_to_end(identity.user_id)
            account = entry.account
        refusal = refusal_of(account, identity)
        if refusal is not None:
            raise refusal.error
        return account

    def refused(self, identity: Identity) -> Refusal | None:
        """How the cached account refuses ``identity`` now, if it does; memory only."""
        entry = self._entries.get(identity.user_id)
        return None if entry is None else refusal_of(entry.account, identity)

    def load(self, user_id: int) -> Deferred[Account]:
        """Read the user's account from the store and cache it; concurrent reads share one.

        Fails with ``Unauthorized`` if the user does not exist.
        """
        waiter: Deferred[Account] = Deferred()
        waiters = self._loading.get(user_id)
        if waiters is not None:
            waiters.append(waiter)
            return waiter
        self._loading[user_id] = [waiter]
        reading = self._store.get_accounts([user_id], int(self._clock.seconds()))
        reading.addCallbacks(
            self._loaded, self._load_failed, callbackArgs=(user_id,), errbackArgs=(user_id,)
        )
        return waiter

    def _loaded(self, found: Mapping[int, Account], user_id: int) -> None:
        waiters = self._loading.pop(user_id)
        account = found.get(user_id)
        if account is None:
            self._entries.pop(user_id, None)
            for waiter in waiters:
                waiter.errback(Unauthorized("The token's user does not exist."))
            return
        account = self._remember(account)
        for waiter in waiters:
            waiter.callback(account)

    def _load_failed(self, failure: Failure, user_id: int) -> None:
        for waiter in self._loading.pop(user_id):
            waiter.errback(failure)

    def _remember(self, account: Account) -> Account:
        """Cache ``account`` unless a newer copy is cached; return the copy kept."""
        user_id = account.user.id
        entry = self._entries.get(user_id)
        if entry is not None and entry.account.version > account.version:
            account = entry.account
        self._entries[user_id] = _Entry(account, self._clock.seconds() + self.refresh_after)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._max_accounts:
            self._entries.popitem(last=False)
        return account

    # -- changes -----------------------------------------------------------------

    def changed(self, account: Account) -> None:
        """An account changed in the store: apply it here, and tell every process."""
        self._apply(account)
        if self._control is not None:
            self._control.publish(ACCOUNT_CHANGED, **account_event(account))

    def _received(self, event: dict[str, Any]) -> None:
        self._apply(account_from_event(event))

    def _apply(self, account: Account) -> None:
        """Cache the change, then close this process's sockets of the user that it refuses."""
        self._remember(account)
        self._close_refused({account.user.id})

    def _close_refused(self, user_ids: set[int], gone: frozenset[int] = frozenset()) -> int:
        """Close the sockets of ``user_ids`` that their cached accounts refuse; how many."""
        closed = 0
        for socket in list(self._sockets()):
            identity = socket.session.identity
            if identity.user_id not in user_ids:
                continue
            if identity.user_id in gone:
                socket.close_with(CLOSE_SESSION_REVOKED, "account deleted")
                closed += 1
                continue
            refusal = self.refused(identity)
            if refusal is not None:
                socket.close_with(refusal.close_code, refusal.close_reason)
                closed += 1
        return closed

    # -- when events may have been lost -------------------------------------------

    def restored(self) -> None:
        """Control events flow again after an outage: trust nothing cached, sweep now."""
        for entry in self._entries.values():
            entry.fresh_until = 0.0
        self.sweep()

    def sweep(self) -> Deferred[int]:
        """Re-read the accounts of this process's sockets; close those they refuse.

        Batched reads of ``SWEEP_CHUNK`` users, one after another, then one
        pass over the sockets. A read that fails is logged and ends the
        sweep; the sockets of the users not read stay as they are (the next
        sweep tries again). Fires with the number of sockets closed.
        """
        return Deferred.fromCoroutine(self._sweep())

    async def _sweep(self) -> int:
        user_ids = sorted({socket.session.identity.user_id for socket in self._sockets()})
        read: set[int] = set()
        gone: set[int] = set()
        for chunk in chunks(user_ids, SWEEP_CHUNK):
            try:
                found = await self._store.get_accounts(chunk, int(self._clock.seconds()))
            except Exception:
                # What was read is acted on; the rest waits for the next sweep.
                self.log.failure("reading the accounts of open sockets failed")
                break
            for account in found.values():
                self._remember(account)
            read.update(chunk)
            gone.update(set(chunk) - found.keys())
        for user_id in gone:
            self._entries.pop(user_id, None)
        return self._close_refused(read, frozenset(gone)) if read else 0
