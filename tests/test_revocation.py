"""revocation.py: tokens judged from memory, kept current by events, bounded if events are lost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatservice.control import Control
from chatservice.errors import AccountDisabled, SessionRevoked, StoreUnavailable, Unauthorized
from chatservice.hub import LocalHub
from chatservice.models import Account
from chatservice.revocation import (
    ACCOUNT_CHANGED,
    CLOSE_ACCOUNT_DISABLED,
    CLOSE_SESSION_REVOKED,
    SWEEP_CHUNK,
    Revocation,
    account_event,
    account_from_event,
)
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity
from chatservice.websocket import SocketSession
from tests.logcapture import LogCapture

NOW = 1_700_000_000
REFRESH = 30.0


class CountingStore(MemoryStore):
    """A memory store that counts account reads, can hold them, and can fail them."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.reads: list[list[int]] = []
        self.holding = False
        self.held: list[tuple[Deferred[Mapping[int, Account]], Mapping[int, Account]]] = []
        self.down = False

    def get_accounts(self, user_ids: Sequence[int], now: int) -> Deferred[Mapping[int, Account]]:
        self.reads.append(list(user_ids))
        if self.down:
            failed: Deferred[Mapping[int, Account]] = Deferred()
            failed.errback(StoreUnavailable())
            return failed
        if not self.holding:
            return super().get_accounts(user_ids, now)
        # Read now (a snapshot), answered later.
        snapshot: list[Mapping[int, Account]] = []
        super().get_accounts(user_ids, now).addCallback(snapshot.append)
        waiting: Deferred[Mapping[int, Account]] = Deferred()
        self.held.append((waiting, snapshot[0]))
        return waiting

    def release(self) -> None:
        held, self.held = self.held, []
        for waiting, snapshot in held:
            waiting.callback(snapshot)


class Socket:
    """A socket as ``Revocation`` sees one: an identity, and a way to be closed."""

    def __init__(self, identity: Identity) -> None:
        self.session = SocketSession(identity, 1, None, f"c-{id(self)}")
        self.closed: list[tuple[int, str]] = []

    def close_with(self, code: int, reason: str) -> None:
        # As ``ChatServerProtocol.close_with``: a closing socket ignores more.
        if not self.closed:
            self.closed.append((code, reason))


class RevocationCase(SynchronousTestCase):
    """A store with alice and bob, a revocation cache on a clock, sockets, a control channel."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = CountingStore(self.clock)
        self.alice = self.successResultOf(self.store.create_user("alice", b"h", 1)).id
        self.bob = self.successResultOf(self.store.create_user("bob", b"h", 1)).id
        # One hub, a control channel per "process" (``room_event`` hands each
        # event to every one of them, as Redis would).
        self.hub = LocalHub()
        self.control = Control(self.hub)
        self.controls = [self.control]
        self.hub.set_listener(self)  # type: ignore[arg-type]
        self.sockets: list[Socket] = []
        self.revocation = self.make_revocation(self.control, self.sockets)

    def make_revocation(self, control: Control, sockets: list[Socket]) -> Revocation:
        revocation = Revocation(self.store, self.clock, refresh_after=REFRESH)
        revocation.attach(control, lambda: sockets)
        return revocation

    def room_event(self, event: Any) -> None:
        """The hub's listener: each control event goes to every process's channel."""
        for control in self.controls:
            control.handle(event.payload)

    def identity(self, user_id: int, session: str = "s-1", generation: int = 0) -> Identity:
        return Identity(user_id, "u", NOW + 3600, session, generation)

    def check(self, identity: Identity) -> Account:
        return self.successResultOf(Deferred.fromCoroutine(self.revocation.check(identity)))

    def refused_with(self, identity: Identity, error: type[Exception]) -> Exception:
        failure = self.failureResultOf(
            Deferred.fromCoroutine(self.revocation.check(identity)), error
        )
        return failure.value  # type: ignore[no-any-return]

    def socket(self, identity: Identity) -> Socket:
        socket = Socket(identity)
        self.sockets.append(socket)
        return socket


class CheckTests(RevocationCase):
    """``check``: one read per user, then memory, until the entry is stale."""

    def test_a_user_is_read_once_then_answered_from_memory(self) -> None:
        """The first check reads the account; the next ones (fresh) read nothing."""
        for _ in range(5):
            self.assertEqual(self.check(self.identity(self.alice)).user.username, "alice")
        self.assertEqual(self.store.reads, [[self.alice]])

    def test_a_stale_entry_is_read_again(self) -> None:
        """After ``refresh_after`` seconds the account is read again, once."""
        self.check(self.identity(self.alice))
        self.clock.advance(REFRESH - 1)
        self.check(self.identity(self.alice))
        self.clock.advance(1)
        self.check(self.identity(self.alice))
        self.check(self.identity(self.alice))
        self.assertEqual(len(self.store.reads), 2)

    def test_an_unknown_user_is_unauthorized_and_not_cached(self) -> None:
        """A token of no user is 401, and asking again reads again (nothing cached)."""
        for _ in range(2):
            self.refused_with(self.identity(999), Unauthorized)
        self.assertEqual(len(self.store.reads), 2)
        self.assertEqual(len(self.revocation), 0)

    def test_revoked_session_older_generation_disabled_and_deleted_are_refused(self) -> None:
        """Each state refuses with its own error; other sessions of the user still work."""
        store, alice = self.store, self.alice
        self.revocation.changed(
            self.successResultOf(store.revoke_session(alice, "s-1", NOW + 3600, NOW))
        )
        self.assertIsInstance(
            self.refused_with(self.identity(alice), SessionRevoked), SessionRevoked
        )
        self.check(self.identity(alice, "s-2"))
        self.revocation.changed(self.successResultOf(store.revoke_all_sessions(alice)))
        self.refused_with(self.identity(alice, "s-2"), SessionRevoked)
        self.check(self.identity(alice, "s-3", generation=1))
        self.revocation.changed(self.successResultOf(store.set_disabled(alice, 5)))
        self.refused_with(self.identity(alice, "s-3", generation=1), AccountDisabled)
        self.revocation.changed(self.successResultOf(store.set_disabled(alice, None)))
        self.check(self.identity(alice, "s-3", generation=1))
        self.revocation.changed(self.successResultOf(store.delete_account(alice, 6)))
        error = self.refused_with(self.identity(alice, "s-3", generation=2), Unauthorized)
        self.assertEqual(type(error), Unauthorized)
        # Every change came with its account: nothing was read.
        self.assertEqual(self.store.reads, [])

    def test_a_token_newer_than_the_cache_reads_the_account_again(self) -> None:
        """A newer generation than cached means the cache is behind: read, then accept."""
        self.check(self.identity(self.alice))
        self.successResultOf(self.store.revoke_all_sessions(self.alice))  # no event
        self.assertEqual(self.check(self.identity(self.alice, generation=1)).generation, 1)
        self.assertEqual(len(self.store.reads), 2)
        # ... and the older token is refused from now on, without a read.
        self.refused_with(self.identity(self.alice), SessionRevoked)
        self.assertEqual(len(self.store.reads), 2)

    def test_tokens_without_session_are_generation_0(self) -> None:
        """An old token (no sid, gen 0) works until the generation moves."""
        old = Identity(self.alice, "alice", NOW + 3600)
        self.check(old)
        self.revocation.changed(self.successResultOf(self.store.revoke_all_sessions(self.alice)))
        self.refused_with(old, SessionRevoked)

    def test_concurrent_checks_share_one_read(self) -> None:
        """Ten checks while the first read is in flight: one read, ten answers."""
        self.store.holding = True
        checks = [
            Deferred.fromCoroutine(self.revocation.check(self.identity(self.alice)))
            for _ in range(10)
        ]
        self.assertEqual(len(self.store.reads), 1)
        self.store.release()
        for check in checks:
            self.assertEqual(self.successResultOf(check).user.id, self.alice)

    def test_a_failed_read_fails_every_waiting_check_and_is_not_cached(self) -> None:
        """The store down: each check fails with StoreUnavailable; later ones read again."""
        self.store.down = True
        self.refused_with(self.identity(self.alice), StoreUnavailable)
        self.store.down = False
        self.check(self.identity(self.alice))
        self.assertEqual(len(self.store.reads), 2)

    def test_a_read_older_than_an_event_does_not_bring_the_old_state_back(self) -> None:
        """A read in flight when a newer event arrives: the newer copy (by version) stays."""
        self.store.holding = True
        checking = Deferred.fromCoroutine(self.revocation.check(self.identity(self.alice)))
        # The read took its snapshot; the account changes and its event arrives first.
        disabled = self.successResultOf(self.store.set_disabled(self.alice, 5))
        self.revocation.changed(disabled)
        self.store.release()
        self.failureResultOf(checking, AccountDisabled)
        self.store.holding = False
        self.refused_with(self.identity(self.alice), AccountDisabled)

    def test_the_cache_is_bounded_and_forgets_the_least_recently_seen(self) -> None:
        """With room for two, a third user evicts the least recently checked one."""
        self.revocation = self.make_revocation(self.control, self.sockets)
        self.revocation._max_accounts = 2
        carol = self.successResultOf(self.store.create_user("carol", b"h", 1)).id
        for user_id in (self.alice, self.bob, self.alice, carol):
            self.check(self.identity(user_id))
        self.assertEqual(len(self.revocation), 2)
        reads = len(self.store.reads)
        self.check(self.identity(self.alice))  # still cached
        self.check(self.identity(self.bob))  # evicted: read again
        self.assertEqual(len(self.store.reads), reads + 1)


class EventTests(RevocationCase):
    """Changes reach every process through control events, and close the sockets they refuse."""

    def test_an_event_carries_the_whole_account(self) -> None:
        """``account_event`` and ``account_from_event`` round-trip, through JSON too."""
        account = self.successResultOf(self.store.revoke_session(self.alice, "s", NOW + 9, NOW))
        account = self.successResultOf(self.store.set_disabled(self.alice, 5))
        account = Account(account.user, 3, 7, True, 5, None, frozenset({"a", "b"}))
        import json

        event = json.loads(json.dumps({"type": ACCOUNT_CHANGED, **account_event(account)}))
        self.assertEqual(account_from_event(event), account)

    def test_a_change_closes_the_refused_sockets_on_every_process(self) -> None:
        """A logout here closes, on another process, only the revoked session's sockets."""
        other_sockets: list[Socket] = []
        other_control = Control(self.hub)
        self.controls.append(other_control)
        other = self.make_revocation(other_control, other_sockets)
        revoked = Socket(self.identity(self.alice, "s-1"))
        kept = Socket(self.identity(self.alice, "s-2"))
        bobs = Socket(self.identity(self.bob, "s-1"))
        other_sockets += [revoked, kept, bobs]
        self.revocation.changed(
            self.successResultOf(self.store.revoke_session(self.alice, "s-1", NOW + 9, NOW))
        )
        self.assertEqual(revoked.closed, [(CLOSE_SESSION_REVOKED, "session revoked")])
        self.assertEqual((kept.closed, bobs.closed), ([], []))
        self.refused_with(self.identity(self.alice, "s-1"), SessionRevoked)
        self.assertIsNotNone(other.refused(self.identity(self.alice, "s-1")))

    def test_disabling_closes_every_socket_of_the_user_with_4002(self) -> None:
        """All of the user's sockets, whatever their session, close with 4002."""
        sockets = [self.socket(self.identity(self.alice, s)) for s in ("s-1", "s-2")]
        bob = self.socket(self.identity(self.bob))
        self.revocation.changed(self.successResultOf(self.store.set_disabled(self.alice, 5)))
        for socket in sockets:
            self.assertEqual(socket.closed, [(CLOSE_ACCOUNT_DISABLED, "account disabled")])
        self.assertEqual(bob.closed, [])

    def test_a_malformed_event_is_logged_and_changes_nothing(self) -> None:
        """An ``account`` event without its fields is dropped with a logged failure."""
        logs = LogCapture(self)
        self.control.publish(ACCOUNT_CHANGED, user=[self.alice])
        self.assertTrue(any("control event failed" in text for text in logs.texts()))
        self.flushLoggedErrors(ValueError)
        self.assertEqual(len(self.revocation), 0)


class LostEventTests(RevocationCase):
    """Without events (a Redis outage), a revocation takes effect within ``refresh_after``."""

    def setUp(self) -> None:
        super().setUp()
        # This process hears nothing: the control channel of another hub.
        self.deaf = self.make_revocation(Control(LocalHub()), self.sockets)
        self.deaf.start()
        self.addCleanup(self.deaf.stop)

    def revoke_elsewhere(self) -> Account:
        """Revoke alice's session s-1 in the store, as another process would."""
        return self.successResultOf(self.store.revoke_session(self.alice, "s-1", NOW + 99, NOW))

    def test_a_request_is_refused_once_the_cached_account_is_stale(self) -> None:
        """Accepted from memory until ``refresh_after`` passed, then read and refused."""
        check = self.deaf.check
        self.successResultOf(Deferred.fromCoroutine(check(self.identity(self.alice))))
        self.revoke_elsewhere()
        self.clock.advance(REFRESH - 1)
        self.successResultOf(Deferred.fromCoroutine(check(self.identity(self.alice))))
        self.clock.advance(1)
        self.failureResultOf(
            Deferred.fromCoroutine(check(self.identity(self.alice))), SessionRevoked
        )

    def test_the_sweep_closes_a_revoked_socket_within_refresh_after(self) -> None:
        """Every ``refresh_after`` seconds one read of the sockets' users closes the refused."""
        revoked = self.socket(self.identity(self.alice, "s-1"))
        other = self.socket(self.identity(self.alice, "s-2"))
        bob = self.socket(self.identity(self.bob))
        self.revoke_elsewhere()
        self.clock.advance(REFRESH - 1)
        self.assertEqual(revoked.closed, [])
        self.store.reads.clear()
        self.clock.advance(1)
        self.assertEqual(self.store.reads, [sorted([self.alice, self.bob])])
        self.assertEqual(revoked.closed, [(CLOSE_SESSION_REVOKED, "session revoked")])
        self.assertEqual((other.closed, bob.closed), ([], []))

    def test_the_sweep_closes_the_sockets_of_a_user_that_is_gone(self) -> None:
        """A user missing from the store (deleted by hand) loses their sockets (4001)."""
        socket = self.socket(self.identity(self.alice))
        del self.store._users[self.alice]
        self.clock.advance(REFRESH)
        self.assertEqual(socket.closed, [(CLOSE_SESSION_REVOKED, "account deleted")])

    def test_a_sweep_while_the_store_is_down_closes_nothing_and_the_next_one_tries_again(
        self,
    ) -> None:
        """A failed read is logged; the sweeps go on."""
        socket = self.socket(self.identity(self.alice, "s-1"))
        self.revoke_elsewhere()
        self.store.down = True
        logs = LogCapture(self)
        self.clock.advance(REFRESH)
        self.flushLoggedErrors(StoreUnavailable)
        self.assertEqual(socket.closed, [])
        self.assertTrue(any("open sockets failed" in text for text in logs.texts()))
        self.store.down = False
        self.clock.advance(REFRESH)
        self.assertEqual(socket.closed, [(CLOSE_SESSION_REVOKED, "session revoked")])

    def test_when_events_flow_again_everything_is_read_and_swept_at_once(self) -> None:
        """``restored`` (Redis back): cached accounts are stale and sockets are swept now."""
        control = Control(LocalHub())
        sockets: list[Socket] = []
        revocation = self.make_revocation(control, sockets)
        self.successResultOf(Deferred.fromCoroutine(revocation.check(self.identity(self.alice))))
        sockets.append(Socket(self.identity(self.alice, "s-1")))
        self.revoke_elsewhere()
        control.restored()
        self.assertEqual(sockets[0].closed, [(CLOSE_SESSION_REVOKED, "session revoked")])
        reads = len(self.store.reads)
        self.failureResultOf(
            Deferred.fromCoroutine(revocation.check(self.identity(self.alice))), SessionRevoked
        )
        self.assertEqual(len(self.store.reads), reads)  # the sweep's read refreshed it

    def test_a_sweep_reads_in_bounded_transactions_one_after_another(self) -> None:
        """Users go in reads of ``SWEEP_CHUNK``, each after the last answered.

        One read of every socket's account would hold the store's only
        SQLite connection for as long as it takes (15 ms for 500 users in
        S2, where message commits queue behind it); bounded reads let the
        commits in between.
        """
        users = [self.alice, self.bob] + [
            self.successResultOf(self.store.create_user(f"user{n}", b"h", 1)).id
            for n in range(SWEEP_CHUNK * 2 + 3)
        ]
        sockets = [self.socket(self.identity(user_id)) for user_id in users]
        last = users[-1]
        self.successResultOf(self.store.revoke_session(last, "s-1", NOW + 99, NOW))
        self.store.holding = True
        self.clock.advance(REFRESH)
        self.assertEqual(self.store.reads, [sorted(users)[:SWEEP_CHUNK]])
        self.store.release()
        self.assertEqual(len(self.store.reads), 2)
        self.store.release()
        self.store.release()
        self.assertEqual(self.store.reads, [list(c) for c in _chunked(sorted(users))])
        self.assertEqual(sockets[-1].closed, [(CLOSE_SESSION_REVOKED, "session revoked")])
        self.assertEqual([s.closed for s in sockets[:-1]], [[]] * (len(users) - 1))

    def test_no_sockets_no_read(self) -> None:
        """A sweep with no socket reads nothing."""
        self.clock.advance(REFRESH * 3)
        self.assertEqual(self.store.reads, [])


def _chunked(user_ids: list[int]) -> list[list[int]]:
    return [user_ids[at : at + SWEEP_CHUNK] for at in range(0, len(user_ids), SWEEP_CHUNK)]
