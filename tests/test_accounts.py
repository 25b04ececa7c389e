"""Register, log in and authenticate: the account use cases without HTTP."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from chatservice.accounts import Accounts, Session
from chatservice.errors import Conflict, Overloaded, RateLimited, Unauthorized
from chatservice.models import User
from chatservice.passwords import PasswordHasher
from chatservice.store.memory import MemoryStore
from chatservice.tokens import Identity, TokenIssuer
from chatservice.wire import CredentialsForm
from tests.fakes import TEST_SECRET, CountingPool, FakeReactor, HeldPool, ImmediateThreadPool

PASSWORD = "correct horse"


def make_accounts(
    pool: ImmediateThreadPool,
    reactor: FakeReactor | None = None,
    tokens: TokenIssuer | None = None,
    **hashing: Any,
) -> Accounts:
    """``Accounts`` on a memory store, hashing at cost 4 on ``pool``, with the test secret.

    ``reactor`` defaults to a new one whose clock stands at 100.
    """
    if reactor is None:
        reactor = FakeReactor()
        reactor.advance(100)
    return Accounts(
        MemoryStore(reactor),
        PasswordHasher(reactor, pool, 4, **hashing),  # type: ignore[arg-type]
        tokens or TokenIssuer(TEST_SECRET, 3600, reactor),
        reactor,
    )


class AccountsTests(SynchronousTestCase):
    """``Accounts``."""

    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.reactor.advance(100)
        self.pool = CountingPool()
        self.tokens = TokenIssuer(TEST_SECRET, 3600, self.reactor)
        self.accounts = make_accounts(self.pool, self.reactor, self.tokens)

    def result_of(self, coroutine: Any) -> Any:
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def fail_with(self, coroutine: Any, error: type[Exception]) -> Any:
        failure = self.failureResultOf(Deferred.fromCoroutine(coroutine), error)
        return failure.value

    def register(self, username: str = "alice", password: str = PASSWORD) -> Session:
        session: Session = self.result_of(
            self.accounts.register(CredentialsForm(username, password))
        )
        return session

    def test_register_gives_a_session(self) -> None:
        """A new account comes with a token for it and its creation time in ms."""
        session = self.register()
        self.assertEqual((session.user.username, session.user.created_at), ("alice", 100_000))
        self.assertEqual(self.tokens.verify(session.token).user_id, session.user.id)

    def test_taken_name_is_a_conflict_without_bcrypt_work(self) -> None:
        """A taken name (any case) is ``Conflict``, found before any hashing."""
        self.register("alice")
        jobs = self.pool.jobs
        self.fail_with(self.accounts.register(CredentialsForm("ALICE", PASSWORD)), Conflict)
        self.assertEqual(self.pool.jobs, jobs)

    def test_login_gives_a_session(self) -> None:
        """Right credentials give a token for the user."""
        user = self.register().user
        session = self.result_of(self.accounts.login(CredentialsForm("alice", PASSWORD)))
        self.assertEqual(session.user, user)

    def test_wrong_password_and_unknown_user_fail_alike(self) -> None:
        """Both are ``Unauthorized`` ``invalid_credentials`` with the same message."""
        self.register()
        wrong = self.fail_with(
            self.accounts.login(CredentialsForm("alice", "nope nope")), Unauthorized
        )
        unknown = self.fail_with(
            self.accounts.login(CredentialsForm("nobody", "nope nope")), Unauthorized
        )
        self.assertEqual(wrong.to_json(), unknown.to_json())
        self.assertEqual(wrong.code, "invalid_credentials")

    def test_unknown_user_costs_a_bcrypt_check(self) -> None:
        """A login for an unknown user still runs bcrypt, like a wrong password does."""
        jobs = self.pool.jobs
        self.fail_with(self.accounts.login(CredentialsForm("nobody", PASSWORD)), Unauthorized)
        self.assertEqual(self.pool.jobs, jobs + 1)

    def test_authenticate_accepts_a_live_users_token(self) -> None:
        """A token of an existing user authenticates to its identity."""
        session = self.register()
        identity = self.result_of(self.accounts.authenticate(session.token))
        self.assertEqual(
            identity, Identity(session.user.id, "alice", 100 + 3600, identity.session, 0)
        )
        self.assertIsNotNone(identity.session)

    def test_authenticate_refuses_a_token_of_no_user(self) -> None:
        """A validly signed token whose user does not exist is ``Unauthorized``."""
        token = self.tokens.issue(User(42, "ghost", 0))
        error = self.fail_with(self.accounts.authenticate(token), Unauthorized)
        self.assertEqual(error.code, "unauthorized")


class ConcurrentLoginLimitTests(SynchronousTestCase):
    """Logins checked at the same time cannot slip past the failed-login limit."""

    def setUp(self) -> None:
        self.pool = HeldPool()
        self.accounts = make_accounts(self.pool)
        registering = Deferred.fromCoroutine(
            self.accounts.register(CredentialsForm("alice", PASSWORD))
        )
        self.pool.release()
        self.successResultOf(registering)

    def login(self, password: str) -> Deferred[Session]:
        return Deferred.fromCoroutine(
            self.accounts.login(CredentialsForm("alice", password), "10.0.0.1")
        )

    def test_eleventh_concurrent_attempt_is_refused_before_hashing(self) -> None:
        """With ten checks still hashing, the eleventh is 429 and starts no bcrypt job."""
        attempts = [self.login("wrong password") for _ in range(10)]
        self.assertEqual(len(self.pool.waiting), 10)
        self.failureResultOf(self.login("wrong password"), RateLimited)
        self.assertEqual(len(self.pool.waiting), 10)
        self.pool.release()
        for attempt in attempts:
            self.failureResultOf(attempt, Unauthorized)

    def test_a_success_gives_its_token_back(self) -> None:
        """Ten right passwords at once leave the limit untouched for the next attempt."""
        attempts = [self.login(PASSWORD) for _ in range(10)]
        self.pool.release()
        for attempt in attempts:
            self.successResultOf(attempt)
        eleventh = self.login(PASSWORD)
        self.pool.release()
        self.successResultOf(eleventh)


class LimiterOrderTests(SynchronousTestCase):
    """The per-address limit is checked before the per-username one."""

    def setUp(self) -> None:
        self.pool = CountingPool()
        self.accounts = make_accounts(self.pool)

    def login(self, username: str, address: str) -> Deferred[Session]:
        return Deferred.fromCoroutine(
            self.accounts.login(CredentialsForm(username, PASSWORD), address)
        )

    def limiter(self, kind: str) -> int:
        (found,) = [lim for lim in self.accounts.limiters if lim.name == f"login-failures-{kind}"]
        return len(found)

    def test_a_limited_address_remembers_no_more_usernames(self) -> None:
        """Once an address is limited, the names it tries are not stored at all."""
        for n in range(10):
            self.failureResultOf(self.login(f"name{n}", "10.0.0.1"), Unauthorized)
        self.assertEqual(self.limiter("per-username"), 10)
        for n in range(10, 100):
            self.failureResultOf(self.login(f"name{n}", "10.0.0.1"), RateLimited)
        self.assertEqual(self.limiter("per-username"), 10)

    def test_a_limited_username_gives_the_address_its_token_back(self) -> None:
        """A refusal by the username limiter does not count against the address."""
        for n in range(10):
            self.failureResultOf(self.login("alice", f"10.0.0.{n}"), Unauthorized)
        for _ in range(20):
            self.failureResultOf(self.login("alice", "10.9.9.9"), RateLimited)
        self.assertEqual(self.limiter("per-address"), 10)  # 10.9.9.9 is not among them

    def test_the_address_limiter_answers_first(self) -> None:
        """With both the address and the username limited, the address's limiter refuses."""
        for _ in range(10):
            self.failureResultOf(self.login("alice", "10.0.0.1"), Unauthorized)
        error = self.failureResultOf(self.login("alice", "10.0.0.1"), RateLimited).value
        self.assertEqual(error.limiter, "login-failures-per-address")

    def test_impossible_usernames_cost_nothing(self) -> None:
        """Names registration would refuse: 401, no bcrypt job, no limiter entry."""
        for name in ("", "ab", "x" * 33, "has space", "ünïcode", "x" * 60_000):
            error = self.failureResultOf(self.login(name, "10.0.0.1"), Unauthorized).value
            self.assertEqual(error.code, "invalid_credentials")
        self.assertEqual(
            (self.pool.jobs, [len(lim) for lim in self.accounts.limiters]), (0, [0, 0, 0])
        )


class OverloadedRegistrationTests(SynchronousTestCase):
    """A registration refused because bcrypt is overloaded does not count."""

    def test_overloaded_registration_gives_its_token_back(self) -> None:
        """21 overloaded attempts from one address leave its registrations untouched."""
        pool = HeldPool()
        accounts = make_accounts(pool, FakeReactor(), threads=1, max_wait=0)
        first = Deferred.fromCoroutine(accounts.register(CredentialsForm("first", PASSWORD)))
        for n in range(21):
            registering = accounts.register(CredentialsForm(f"user{n}", PASSWORD), "10.0.0.1")
            self.failureResultOf(Deferred.fromCoroutine(registering), Overloaded)
        self.assertEqual([len(lim) for lim in accounts.limiters], [0, 0, 1])  # only "first"
        pool.release()
        self.successResultOf(first)
