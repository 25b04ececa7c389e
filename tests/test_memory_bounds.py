"""Memory held after 10,000 hostile requests, for each structure a client keys.

Every in-memory structure whose keys (or size) a client chooses must have a
bound in bytes, not only in entries: a bound of 100,000 keys is ~6 GB when
each key is a 60 KB username. Each test sends 10,000 hostile requests through
the use case (fast: no HTTP, fake pools, a fake clock) and asserts how many
bytes are held afterwards, by the structure's own accounting and, where the
accounting is the thing under test, by ``tracemalloc``.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from chatservice.accounts import AccountLimits, Accounts
from chatservice.errors import NotFound, Overloaded, RateLimited, Unauthorized
from chatservice.hub import LocalHub
from chatservice.messages import Messages
from chatservice.models import NewMessage
from chatservice.passwords import PasswordHasher
from chatservice.ratelimit import Rate, RateLimiter, entry_bytes
from chatservice.store.memory import MemoryStore
from chatservice.tickets import TicketBook
from chatservice.tokens import Identity, TokenIssuer
from chatservice.wire import CredentialsForm, HistoryQuery
from tests.fakes import TEST_SECRET, FakeReactor, HeldPool, ImmediateThreadPool

HOSTILE = 10_000
KIB = 1024
T = TypeVar("T")


def traced_bytes(build: Callable[[], T]) -> tuple[T, int]:
    """Build something and return it with the bytes it still holds (``tracemalloc``)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return built, after - before


class WrongPasswords(PasswordHasher):
    """A hasher that finds every password wrong at once, and counts the checks.

    10,000 real bcrypt checks would take seconds even at cost 4; the limiters
    under test only need to see 10,000 failures.
    """

    def __init__(self, reactor: FakeReactor) -> None:
        super().__init__(reactor, ImmediateThreadPool(), 4)  # type: ignore[arg-type]
        self.checks = 0

    def verify(self, password: str, password_hash: bytes | None) -> Deferred[bool]:
        self.checks += 1
        return succeed(False)


class LoginCase(SynchronousTestCase):
    """Accounts on a fake clock; ``attempt`` runs many logins and sorts their answers."""

    def make_accounts(self, hasher: PasswordHasher, limits: AccountLimits | None = None) -> None:
        self.accounts = Accounts(
            MemoryStore(self.reactor),
            hasher,
            TokenIssuer(TEST_SECRET, 3600, self.reactor),
            self.reactor,
            limits,
        )

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.reactor.advance(100)
        self.pending: list[Deferred[Any]] = []  # logins still waiting for bcrypt

    def limiter(self, name: str) -> RateLimiter:
        (found,) = [limiter for limiter in self.accounts.limiters if limiter.name == name]
        return found

    def attempt(self, logins: Iterable[tuple[str, str, str]]) -> dict[str, int]:
        """Start a login per (username, password, address); count outcomes by error code."""
        outcomes: dict[str, int] = {}
        for username, password, address in logins:
            login = Deferred.fromCoroutine(
                self.accounts.login(CredentialsForm(username, password), address)
            )
            if not login.called:
                self.pending.append(login)
                continue
            failure = self.failureResultOf(login, Unauthorized, RateLimited, Overloaded)
            code = failure.value.code
            outcomes[code] = outcomes.get(code, 0) + 1
        return outcomes


class LoginLimiterBoundsTests(LoginCase):
    """The failed-login limiters after 10,000 hostile logins."""

    def setUp(self) -> None:
        super().setUp()
        self.hasher = WrongPasswords(self.reactor)
        self.make_accounts(self.hasher)

    def assert_nothing_held(self) -> None:
        for limiter in self.accounts.limiters:
            self.assertEqual(
                (limiter.name, len(limiter), limiter.bytes_held), (limiter.name, 0, 0)
            )
        self.assertEqual(self.hasher.checks, 0)

    def test_overlong_usernames_hold_nothing(self) -> None:
        """6,000-character usernames from one address: all 401, no bucket, no bcrypt.

        Before: every name was kept for the whole window (a refusal by the
        address limiter gave the name's token back, which stored it again):
        62 MB held after these 10,000 requests.
        """
        outcomes = self.attempt(
            (f"{n:06d}" + "x" * 6000, "a password", "10.0.0.1") for n in range(HOSTILE)
        )
        self.assertEqual(outcomes, {"invalid_credentials": HOSTILE})
        self.assert_nothing_held()

    def test_overlong_username_fails_like_an_unknown_user(self) -> None:
        """The refusal is the same 401 body an unknown (valid) username gets."""
        long = self.failureResultOf(
            Deferred.fromCoroutine(self.accounts.login(CredentialsForm("x" * 33, "pw"), "a")),
            Unauthorized,
        )
        unknown = self.failureResultOf(
            Deferred.fromCoroutine(self.accounts.login(CredentialsForm("nobody", "pw"), "a")),
            Unauthorized,
        )
        self.assertEqual(long.value.to_json(), unknown.value.to_json())

    def test_overlong_passwords_hold_nothing(self) -> None:
        """60 KB passwords for valid usernames from 10,000 addresses: all 401, nothing held."""
        outcomes = self.attempt(
            (f"user{n:06d}", "p" * 60_000, f"2001:db8::{n:x}") for n in range(HOSTILE)
        )
        self.assertEqual(outcomes, {"invalid_credentials": HOSTILE})
        self.assert_nothing_held()

    def test_one_address_many_usernames_holds_one_window_of_failures(self) -> None:
        """From one address only 10 usernames are ever checked, so only 10 are kept.

        Before: the username was checked first, and its token given back on
        the address's refusal: 10,000 username buckets (2.0 MB) held.
        """
        outcomes = self.attempt(
            (f"user{n:06d}", "wrong password", "10.0.0.1") for n in range(HOSTILE)
        )
        self.assertEqual(outcomes, {"invalid_credentials": 10, "rate_limited": HOSTILE - 10})
        by_name = self.limiter("login-failures-per-username")
        by_address = self.limiter("login-failures-per-address")
        self.assertEqual((len(by_name), len(by_address)), (10, 1))
        self.assertEqual(by_name.bytes_held, 10 * entry_bytes("user000000"))
        self.assertLessEqual(by_name.bytes_held + by_address.bytes_held, 11 * 300)
        self.assertEqual(self.hasher.checks, 10)

    def test_many_addresses_many_usernames_stay_within_the_byte_bound(self) -> None:
        """10,000 addresses, each failing another username: each limiter stays in bounds."""
        bound = 256 * KIB
        self.make_accounts(self.hasher, AccountLimits(limiter_bytes=bound))
        outcomes = self.attempt(
            (f"user{n:06d}", "wrong password", f"2001:db8::{n:x}") for n in range(HOSTILE)
        )
        self.assertEqual(outcomes, {"invalid_credentials": HOSTILE})
        for limiter in self.accounts.limiters:
            self.assertLessEqual(limiter.bytes_held, bound, limiter.name)

    def test_default_bound_holds_10000_failures_in_a_few_mebibytes(self) -> None:
        """With the defaults, 10,000 distinct failures are all remembered, in under 8 MiB."""
        self.attempt(
            (f"user{n:06d}", "wrong password", f"2001:db8::{n:x}") for n in range(HOSTILE)
        )
        by_name = self.limiter("login-failures-per-username")
        by_address = self.limiter("login-failures-per-address")
        self.assertEqual((len(by_name), len(by_address)), (HOSTILE, HOSTILE))
        self.assertLessEqual(by_name.bytes_held + by_address.bytes_held, 8 * 2**20)


class LimiterAccountingTests(SynchronousTestCase):
    """The limiter's byte accounting is not an underestimate of what it really holds."""

    def test_accounting_covers_what_tracemalloc_sees(self) -> None:
        """10,000 buckets with keys of 1-200 characters: accounted >= traced, within 50%."""
        reactor = FakeReactor()

        def fill() -> RateLimiter:
            limiter = RateLimiter("x", Rate.per(10, 300), reactor, max_bytes=2**30)
            for n in range(HOSTILE):
                limiter.take(f"{n}".ljust(1 + n % 200, "k"))
            return limiter

        limiter, traced = traced_bytes(fill)
        self.assertEqual(len(limiter), HOSTILE)
        self.assertGreaterEqual(limiter.bytes_held, traced)
        self.assertLessEqual(limiter.bytes_held, traced * 1.5)


class BcryptQueueBoundsTests(LoginCase):
    """bcrypt jobs waiting for a thread after 10,000 logins while every thread is busy."""

    def setUp(self) -> None:
        super().setUp()
        self.pool = HeldPool(threads=2)
        # 0.2 s a job (cost 12) and 2 threads: 3 seconds of waiting is 30 jobs.
        self.hasher = PasswordHasher(
            self.reactor,  # type: ignore[arg-type]
            self.pool,  # type: ignore[arg-type]
            4,
            job_seconds=0.2,
            max_wait=3.0,
        )
        self.make_accounts(self.hasher)

    def test_work_that_cannot_start_within_seconds_is_refused(self) -> None:
        """2 running + 30 waiting jobs are kept; the other 9,968 logins are ``overloaded``.

        Before: all 10,000 jobs queued (41.8 MB held, and 2,000 s of bcrypt
        work at cost 12 before the last login could be answered).
        """

        def flood(first: int, count: int) -> dict[str, int]:
            return self.attempt(
                (f"user{n:06d}", "wrong password", f"2001:db8::{n:x}")
                for n in range(first, first + count)
            )

        # Traced for the first 1,000 only (tracing every refusal's Failure is
        # slow); the other 9,000 must leave every count where it was.
        outcomes, traced = traced_bytes(lambda: flood(0, 1000))
        self.assertEqual(outcomes, {"overloaded": 1000 - 32})
        self.assertEqual(flood(1000, HOSTILE - 1000), {"overloaded": HOSTILE - 1000})
        self.assertEqual((len(self.pool.waiting), self.hasher.waiting), (32, 30))
        # Jobs, their Deferreds, the logins waiting on them and the limiter
        # buckets of the 32 accepted attempts: a few KB each.
        self.assertLessEqual(traced, 32 * 8 * KIB)
        limiters = self.accounts.limiters
        self.assertEqual([len(limiter) for limiter in limiters], [32, 32, 0])
        self.pool.release()
        for login in self.pending:
            self.failureResultOf(login, Unauthorized)
        # An overloaded refusal is not a failed login: only the 32 count.
        self.assertEqual(len(self.limiter("login-failures-per-username")), 32)

    def test_refusal_says_when_to_retry(self) -> None:
        """The refusal's ``retry_after`` is the estimated wait, in whole seconds."""
        self.attempt((f"user{n:06d}", "wrong", f"10.0.{n}.1") for n in range(32))
        login = Deferred.fromCoroutine(
            self.accounts.login(CredentialsForm("latecomer", "wrong"), "10.9.9.9")
        )
        error = self.failureResultOf(login, Overloaded).value
        self.assertEqual((error.status, error.code, error.retry_after), (503, "overloaded", 4))


class TicketBookBoundsTests(SynchronousTestCase):
    """The WebSocket ticket book after 10,000 tickets that are never redeemed."""

    def issue_many(self, book: TicketBook) -> list[str]:
        return [book.issue(Identity(n, f"user{n:06d}", 1e9)) for n in range(HOSTILE)]

    def test_default_bound_is_a_few_mebibytes(self) -> None:
        """10,000 outstanding tickets fit the default bound, which is under 8 MiB.

        Before: 3.3 MB for these 10,000, and 100,000 (33 MB) allowed.
        """
        book = TicketBook(FakeReactor())
        self.issue_many(book)
        self.assertEqual(len(book), HOSTILE)
        self.assertLessEqual(book.bytes_held, book.max_bytes)
        self.assertLessEqual(book.max_bytes, 8 * 2**20)

    def test_byte_bound_keeps_the_newest(self) -> None:
        """Past ``max_bytes`` the oldest tickets are forgotten; the newest still redeem."""
        book = TicketBook(FakeReactor(), max_bytes=64 * KIB)
        issued = self.issue_many(book)
        self.assertLessEqual(book.bytes_held, 64 * KIB)
        self.assertGreater(len(book), 64)
        self.assertIsNone(book.redeem(issued[0]))
        self.assertEqual(book.redeem(issued[-1]), Identity(HOSTILE - 1, "user009999", 1e9))

    def test_accounting_covers_what_tracemalloc_sees(self) -> None:
        """The book's byte accounting is at least what it really holds, within 50%."""
        reactor = FakeReactor()

        def fill() -> TicketBook:
            filled = TicketBook(reactor)
            self.issue_many(filled)
            return filled

        filled, traced = traced_bytes(fill)
        self.assertGreaterEqual(filled.bytes_held, traced)
        self.assertLessEqual(filled.bytes_held, traced * 1.5)


class ClientMessageIdTests(SynchronousTestCase):
    """``client_msg_id`` keys in the memory store's dedupe map.

    The map holds one key per stored message that had an id, and the memory
    store keeps every message anyway: it grows with history, never with
    repeats, and each key is at most 64 characters (``wire`` refuses longer).
    """

    def setUp(self) -> None:
        self.store = MemoryStore(FakeReactor())
        self.room = self.successResultOf(self.store.ensure_room("General", "", 0))

    def post(self, client_msg_id: str) -> None:
        self.successResultOf(
            self.store.add_messages([NewMessage(self.room.id, 1, "alice", "hi", 0, client_msg_id)])
        )

    def test_repeated_ids_hold_one_entry(self) -> None:
        """10,000 resends of one id store one message and one key."""
        for _ in range(HOSTILE):
            self.post("the-same-id")
        self.assertEqual(len(self.store._timeline._by_client_id), 1)
        self.assertEqual(len(self.successResultOf(self.store.get_messages(self.room.id, 500))), 1)

    def test_distinct_ids_cost_a_bounded_few_hundred_bytes_per_message(self) -> None:
        """10,000 distinct 64-character ids: one key each, bounded bytes per stored message."""

        def fill() -> None:
            for n in range(HOSTILE):
                self.post(f"{n:064d}")

        _, traced = traced_bytes(fill)
        self.assertEqual(len(self.store._timeline._by_client_id), HOSTILE)
        # The whole store costs ~660 bytes a message: the message, its key,
        # its event and the timeline's indexes of both (measured on CPython 3.11).
        self.assertLessEqual(traced, HOSTILE * 1024)


class RoomIdQueryTests(SynchronousTestCase):
    """Room ids in history queries: 10,000 unknown ids leave nothing behind."""

    def test_unknown_room_ids_store_nothing(self) -> None:
        """Each is ``NotFound``; the store holds what it held before."""
        reactor = FakeReactor()
        store = MemoryStore(reactor)
        self.successResultOf(store.ensure_room("General", "", 0))
        messages = Messages(store, LocalHub(), reactor)

        def flood() -> None:
            for n in range(HOSTILE):
                query = HistoryQuery(2**62 + n, 50, None, None)
                self.failureResultOf(Deferred.fromCoroutine(messages.history(query)), NotFound)

        flood()
        self.assertEqual((len(store._rooms), len(store._messages)), (1, 1))
        self.assertEqual(len(store._message_ids), 1)
