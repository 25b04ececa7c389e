"""Abuse limits end to end: bursts pass, the excess is refused, others are unaffected.

Failed logins (per username and per client address) and registrations per
address, through the real routes on a fake clock: the limit holds exactly,
its refusal says when to retry, it resets as the clock moves, and the log
names the limiter. The WebSocket limits (messages and sockets per user) are
exercised in ``tests/test_realtime.py``; here only their answers' headers and
log lines.
"""

from __future__ import annotations

from typing import Any, ClassVar

from treq.testing import StubTreq
from twisted.trial.unittest import TestCase

from chatservice import passwords
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from tests.fakes import CountingPool, FakeReactor, HeldPool, ImmediateThreadPool, config_for_tests
from tests.logcapture import LogCapture
from tests.rest_support import BASE, PASSWORD, Reply, RestTestCase
from tests.wsclient import HttpAnswer, RecordingClient, memory_world

LOGIN_LIMIT = 10  # the defaults of API.md's abuse table
LOGIN_WINDOW = 300
REGISTER_LIMIT = 20
REGISTER_WINDOW = 3600
WRONG = "not the password"


class LimitTestCase(RestTestCase):
    """An in-memory service whose bcrypt jobs are counted and whose log is captured.

    ``TRUST_X_FORWARDED_FOR=1`` lets each test pick the client address with an
    ``X-Forwarded-For`` header, so the per-username and per-address limiters
    can be exercised one at a time.
    """

    config_changes: ClassVar[dict[str, Any]] = {"trust_x_forwarded_for": 1}

    def make_pool(self) -> ImmediateThreadPool:
        """The bcrypt pool: inline, counting its jobs."""
        return CountingPool()

    def setUp(self) -> None:
        self.logs = LogCapture(self)
        self.reactor = FakeReactor()
        self.pool: Any = self.make_pool()
        self.service = ChatService(
            config_for_tests(**self.config_changes),
            self.reactor,
            store=MemoryStore(self.reactor),
            password_pool=self.pool,  # type: ignore[arg-type]
        )
        self.service.startService()
        self.successResultOf(self.service.ready)
        self.addCleanup(lambda: self.successResultOf(self.service.stopService()))
        self.client = StubTreq(self.service.resource())

    def credentials(self, path: str, username: str, password: str, address: str | None) -> Reply:
        """POST credentials to ``path``, from ``address`` if given (as X-Forwarded-For)."""
        headers = {"X-Forwarded-For": address} if address is not None else {}
        return self.request(
            "POST", path, json={"username": username, "password": password}, headers=headers
        )

    def login(self, username: str, password: str, address: str | None = None) -> Reply:
        """POST /api/login, from ``address`` if given (as X-Forwarded-For)."""
        return self.credentials("/api/login", username, password, address)

    def register_from(self, username: str, address: str | None = None) -> Reply:
        """POST /api/register, from ``address`` if given (as X-Forwarded-For)."""
        return self.credentials("/api/register", username, PASSWORD, address)

    def assert_rate_limited(self, reply: Reply, retry_after: int, limit: int, reset: int) -> None:
        """A 429 ``rate_limited`` JSON answer with exactly these rate-limit headers."""
        self.assert_error(reply, 429, "rate_limited")
        self.assertEqual(
            {
                name: reply.header(name)
                for name in (
                    "retry-after",
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-reset",
                )
            },
            {
                "retry-after": str(retry_after),
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            },
        )

    def fired_limiters(self) -> list[str]:
        """The names of the limiters whose refusals were logged, in order."""
        return [str(name) for name in self.logs.with_field("limiter")]


class FailedLoginsPerUsernameTests(LimitTestCase):
    """10 failed logins per username in 5 minutes, whatever the address."""

    def setUp(self) -> None:
        super().setUp()
        self.register("alice")
        self.register("bob")

    def fail_alice(self, count: int = LOGIN_LIMIT, case: str = "alice") -> None:
        """``count`` wrong passwords for alice, each from an address of its own."""
        for n in range(count):
            self.assert_error(self.login(case, WRONG, f"10.0.0.{n}"), 401, "invalid_credentials")

    def test_ten_wrong_passwords_are_401_and_the_eleventh_login_is_429_even_when_right(
        self,
    ) -> None:
        """After 10 failures the username is limited: the right password is refused too."""
        self.fail_alice()
        reply = self.login("alice", PASSWORD, "10.0.1.1")
        self.assert_rate_limited(reply, retry_after=30, limit=LOGIN_LIMIT, reset=LOGIN_WINDOW)

    def test_limited_username_costs_no_bcrypt_work(self) -> None:
        """While limited, neither a right nor a wrong password reaches bcrypt."""
        self.fail_alice()
        jobs = self.pool.jobs
        for n, password in enumerate((PASSWORD, WRONG, "x" * 72)):
            self.assertEqual(self.login("alice", password, f"10.0.2.{n}").code, 429)
        self.assertEqual(self.pool.jobs, jobs)

    def test_failures_before_the_limit_each_cost_one_bcrypt_check(self) -> None:
        """The control for the test above: an unlimited failure does run bcrypt."""
        jobs = self.pool.jobs
        self.fail_alice(3)
        self.assertEqual(self.pool.jobs, jobs + 3)

    def test_username_limit_ignores_letter_case(self) -> None:
        """Failures as ``ALICE`` and ``Alice`` count against ``alice``."""
        self.fail_alice(5, case="ALICE")
        self.fail_alice(5, case="Alice")
        self.assertEqual(self.login("alice", PASSWORD, "10.0.1.1").code, 429)

    def test_other_usernames_are_unaffected(self) -> None:
        """With alice limited, bob logs in, and his wrong password is a plain 401."""
        self.fail_alice()
        self.assertEqual(self.login("bob", PASSWORD, "10.0.3.1").code, 200)
        self.assert_error(self.login("bob", WRONG, "10.0.3.2"), 401, "invalid_credentials")

    def test_username_limit_lifts_after_retry_after(self) -> None:
        """One second before Retry-After the login is still refused; at it, it passes."""
        self.fail_alice()
        retry_after = int(self.login("alice", PASSWORD, "10.0.1.1").header("retry-after") or 0)
        self.assertEqual(retry_after, LOGIN_WINDOW // LOGIN_LIMIT)
        self.reactor.advance(retry_after - 1)
        self.assertEqual(self.login("alice", PASSWORD, "10.0.1.2").code, 429)
        self.reactor.advance(1)
        self.assertEqual(self.login("alice", PASSWORD, "10.0.1.3").code, 200)

    def test_a_whole_window_later_ten_failures_pass_again(self) -> None:
        """After the full window the username has its 10 failures back, and no more."""
        self.fail_alice()
        self.reactor.advance(LOGIN_WINDOW)
        self.fail_alice()
        self.assertEqual(self.login("alice", PASSWORD, "10.0.1.1").code, 429)

    def test_refusal_is_logged_with_the_limiter_name_but_not_the_username(self) -> None:
        """The log says which limiter fired and never names the user."""
        self.fail_alice()
        self.logs.clear()
        self.login("alice", PASSWORD, "10.0.1.1")
        self.assertEqual(self.fired_limiters(), ["login-failures-per-username"])
        (line,) = [text for text in self.logs.texts() if "rate limited" in text]
        self.assertIn("login-failures-per-username", line)
        self.assertNotIn("alice", line)


class FailedLoginsPerAddressTests(LimitTestCase):
    """10 failed logins per client address in 5 minutes, whatever the username."""

    ADDRESS = "198.51.100.7"

    def setUp(self) -> None:
        super().setUp()
        self.register("alice")

    def fail_from(self, address: str, count: int = LOGIN_LIMIT) -> None:
        """``count`` failed logins from ``address``, each for another (unknown) username."""
        for n in range(count):
            reply = self.login(f"nobody{n}", WRONG, address)
            self.assert_error(reply, 401, "invalid_credentials")

    def test_ten_failures_from_an_address_then_its_next_login_is_429(self) -> None:
        """After 10 failures from one address, even a right login from it is refused."""
        self.fail_from(self.ADDRESS)
        jobs = self.pool.jobs
        reply = self.login("alice", PASSWORD, self.ADDRESS)
        self.assert_rate_limited(reply, retry_after=30, limit=LOGIN_LIMIT, reset=LOGIN_WINDOW)
        self.assertEqual(self.pool.jobs, jobs)

    def test_other_addresses_are_unaffected(self) -> None:
        """With one address limited, the same user logs in from another."""
        self.fail_from(self.ADDRESS)
        self.assertEqual(self.login("alice", PASSWORD, "198.51.100.8").code, 200)

    def test_address_limit_lifts_with_the_clock(self) -> None:
        """After Retry-After seconds the address may try again, once."""
        self.fail_from(self.ADDRESS)
        self.reactor.advance(29)
        self.assertEqual(self.login("alice", PASSWORD, self.ADDRESS).code, 429)
        self.reactor.advance(1)
        self.assertEqual(self.login("alice", PASSWORD, self.ADDRESS).code, 200)

    def test_successful_logins_do_not_count(self) -> None:
        """9 failures, then 20 successes: the 10th failure is still a 401, the 11th a 429."""
        self.fail_from(self.ADDRESS, 9)
        for _ in range(20):
            self.assertEqual(self.login("alice", PASSWORD, self.ADDRESS).code, 200)
        self.assert_error(self.login("nobody", WRONG, self.ADDRESS), 401, "invalid_credentials")
        self.assertEqual(self.login("alice", PASSWORD, self.ADDRESS).code, 429)

    def test_refusal_is_logged_with_the_limiter_name_but_not_the_address(self) -> None:
        """The log says which limiter fired and does not write the address."""
        self.fail_from(self.ADDRESS)
        self.logs.clear()
        self.login("alice", PASSWORD, self.ADDRESS)
        self.assertEqual(self.fired_limiters(), ["login-failures-per-address"])
        (line,) = [text for text in self.logs.texts() if "rate limited" in text]
        self.assertNotIn(self.ADDRESS, line)


class RegistrationLimitTests(LimitTestCase):
    """20 registrations per client address an hour."""

    ADDRESS = "203.0.113.5"

    def register_many(self, address: str, count: int, prefix: str = "user") -> None:
        for n in range(count):
            reply = self.register_from(f"{prefix}{n}", address)
            self.assertEqual(reply.code, 201, reply.body)

    def test_twenty_registrations_pass_and_the_next_is_429(self) -> None:
        """The 21st registration from one address is 429 with the rate-limit headers."""
        self.register_many(self.ADDRESS, REGISTER_LIMIT)
        reply = self.register_from("onemore", self.ADDRESS)
        self.assert_rate_limited(
            reply, retry_after=REGISTER_WINDOW // REGISTER_LIMIT, limit=20, reset=REGISTER_WINDOW
        )
        self.assertEqual(self.login("onemore", PASSWORD, "192.0.2.1").code, 401)  # not created

    def test_refused_registration_costs_no_bcrypt_work(self) -> None:
        """A limited registration is refused before its password is hashed."""
        self.register_many(self.ADDRESS, REGISTER_LIMIT)
        jobs = self.pool.jobs
        self.assertEqual(self.register_from("onemore", self.ADDRESS).code, 429)
        self.assertEqual(self.pool.jobs, jobs)

    def test_other_addresses_can_still_register(self) -> None:
        """One address at its limit does not stop another."""
        self.register_many(self.ADDRESS, REGISTER_LIMIT)
        self.assertEqual(self.register_from("elsewhere", "203.0.113.6").code, 201)

    def test_registration_limit_lifts_with_the_clock(self) -> None:
        """Every 180 seconds (an hour / 20) the address may register once more."""
        self.register_many(self.ADDRESS, REGISTER_LIMIT)
        self.reactor.advance(179)
        self.assertEqual(self.register_from("late", self.ADDRESS).code, 429)
        self.reactor.advance(1)
        self.assertEqual(self.register_from("late", self.ADDRESS).code, 201)
        self.assertEqual(self.register_from("later", self.ADDRESS).code, 429)
        self.reactor.advance(REGISTER_WINDOW)
        self.register_many(self.ADDRESS, REGISTER_LIMIT, prefix="again")

    def test_refusal_is_logged_with_the_limiter_name(self) -> None:
        """The log names the registration limiter."""
        self.register_many(self.ADDRESS, REGISTER_LIMIT)
        self.logs.clear()
        self.register_from("onemore", self.ADDRESS)
        self.assertEqual(self.fired_limiters(), ["registrations-per-address"])


class UntrustedForwardedForTests(LimitTestCase):
    """Without TRUST_X_FORWARDED_FOR a client cannot pick its own address."""

    config_changes = {"trust_x_forwarded_for": 0}

    def test_forged_forwarded_for_does_not_dodge_the_login_limit(self) -> None:
        """10 failures under 10 different X-Forwarded-For still come from one TCP peer."""
        for n in range(LOGIN_LIMIT):
            self.assertEqual(self.login(f"nobody{n}", WRONG, f"10.9.0.{n}").code, 401)
        self.assertEqual(self.login("somebody", WRONG, "10.9.1.1").code, 429)

    def test_forged_forwarded_for_does_not_dodge_the_registration_limit(self) -> None:
        """20 registrations under 20 different X-Forwarded-For exhaust the peer's limit."""
        for n in range(REGISTER_LIMIT):
            self.assertEqual(self.register_from(f"user{n}", f"10.9.0.{n}").code, 201)
        self.assertEqual(self.register_from("onemore", "10.9.1.1").code, 429)


class TrustedForwardedForTests(LimitTestCase):
    """With TRUST_X_FORWARDED_FOR=1 the rightmost X-Forwarded-For address is the client."""

    CLIENT = "203.0.113.9"

    def test_addresses_left_of_the_rightmost_are_ignored(self) -> None:
        """A client prepending forged hops to the header is still limited by its real one."""
        for n in range(LOGIN_LIMIT):
            reply = self.login(f"nobody{n}", WRONG, f"10.8.0.{n}, {self.CLIENT}")
            self.assertEqual(reply.code, 401)
        self.assertEqual(self.login("somebody", WRONG, f"1.2.3.4,{self.CLIENT}").code, 429)
        self.assertEqual(self.login("somebody", WRONG, f" {self.CLIENT} ").code, 429)

    def test_the_rightmost_address_alone_decides(self) -> None:
        """The limited address may appear on the left of another client's header."""
        for n in range(LOGIN_LIMIT):
            self.login(f"nobody{n}", WRONG, self.CLIENT)
        self.assertEqual(self.login("somebody", WRONG, f"{self.CLIENT}, 203.0.113.10").code, 401)

    def test_without_the_header_the_tcp_peer_is_the_client(self) -> None:
        """A request that did not come through the proxy is limited by its TCP peer."""
        for n in range(LOGIN_LIMIT):
            self.assertEqual(self.login(f"nobody{n}", WRONG).code, 401)
        self.assertEqual(self.login("somebody", WRONG).code, 429)
        self.assertEqual(self.login("somebody", WRONG, self.CLIENT).code, 401)


class ImpossibleCredentialsTests(LimitTestCase):
    """Credentials no account could have cost nothing and answer like an unknown user."""

    def test_a_60_kb_username_is_a_plain_401_without_bcrypt_work(self) -> None:
        """The same 401 body as an unknown username, no bcrypt job, no limiter touched."""
        unknown = self.login("nobody", WRONG, "10.0.0.1")
        jobs = self.pool.jobs
        huge = self.login("u" * 60_000, WRONG, "10.0.0.1")
        self.assertEqual((huge.code, huge.json()), (401, unknown.json()))
        self.assertEqual(self.pool.jobs, jobs)
        by_name = [lim for lim in self.service.accounts.limiters if "username" in lim.name]
        self.assertEqual(len(by_name[0]), 1)  # "nobody" only

    def test_a_password_over_72_bytes_is_a_plain_401_without_bcrypt_work(self) -> None:
        """A password registration could never have accepted: 401, no bcrypt job."""
        self.register("alice")
        jobs = self.pool.jobs
        reply = self.login("alice", PASSWORD + "x" * 72, "10.0.0.1")
        self.assert_error(reply, 401, "invalid_credentials")
        self.assertEqual(self.pool.jobs, jobs)

    def test_floods_of_them_never_reach_the_limit(self) -> None:
        """They are not counted either: the address can still log in after 50 of them."""
        self.register("alice")
        for _ in range(50):
            self.login("x" * 33, WRONG, "10.0.0.1")
        self.assertEqual(self.login("alice", PASSWORD, "10.0.0.1").code, 200)


class BcryptOverloadTests(LimitTestCase):
    """Logins whose bcrypt check could not start within seconds are 503 ``overloaded``."""

    def make_pool(self) -> ImmediateThreadPool:
        """One bcrypt thread that stays busy until ``release()``."""
        # 0.2 s a job (cost 12's time) at cost 4's speed: 3 s of work is 15 jobs.
        self.patch(passwords, "estimated_seconds", lambda rounds: 0.2)
        return HeldPool(threads=1)

    def start_login(self, n: int) -> Any:
        return self.client.post(
            BASE + "/api/login",
            json={"username": f"user{n}", "password": WRONG},
            headers={"X-Forwarded-For": f"10.0.{n}.1"},
        )

    def test_the_login_after_three_seconds_of_queued_work_is_503_with_retry_after(
        self,
    ) -> None:
        """1 running + 15 waiting checks are kept; the 17th is 503 with Retry-After: 4."""
        waiting = [self.start_login(n) for n in range(16)]
        for login in waiting:
            self.assertNoResult(login)
        reply = self.login("latecomer", WRONG, "10.9.9.9")
        self.assert_error(reply, 503, "overloaded")
        self.assertEqual(reply.header("retry-after"), "4")  # 16 jobs x 0.2 s ahead of it
        self.pool.release()
        self.client.flush()
        self.assertEqual([self.successResultOf(d).code for d in waiting], [401] * 16)

    def test_an_overloaded_refusal_is_not_a_failed_login(self) -> None:
        """The refused address keeps its whole allowance of failed logins."""
        waiting = [self.start_login(n) for n in range(16)]
        for _ in range(20):
            self.assertEqual(self.login("alice", WRONG, "10.9.9.9").code, 503)
        self.pool.release()
        self.client.flush()
        self.assertEqual([self.successResultOf(d).code for d in waiting], [401] * 16)
        codes = []
        for n in range(LOGIN_LIMIT + 1):
            login = self.client.post(
                BASE + "/api/login",
                json={"username": f"nobody{n}", "password": WRONG},
                headers={"X-Forwarded-For": "10.9.9.9"},
            )
            self.pool.release()
            self.client.flush()
            codes.append(self.successResultOf(login).code)
        self.assertEqual(codes, [401] * LOGIN_LIMIT + [429])


class WebSocketLimitCase(TestCase):
    """An in-memory service with WebSocket clients for alice and bob, log captured.

    The WebSocket limits' behaviour (bursts, other users, refill, freed
    slots) is in ``tests/test_realtime.py``; these add what an operator sees.
    """

    changes: ClassVar[dict[str, Any]] = {}

    def setUp(self) -> None:
        self.logs = LogCapture(self)
        self.world = memory_world(self, **self.changes)
        self.alice, self.alice_id = self.world.rest.register("alice")

    def connect(self, token: str, room_id: int = 1) -> RecordingClient:
        return self.world.chat.open(token, room_id)

    def refusal(self, token: str, room_id: int = 1) -> HttpAnswer:
        return self.world.chat.refusal(
            f"/ws?roomId={room_id}", {"Authorization": f"Bearer {token}"}
        )


class MessageRateLogTests(WebSocketLimitCase):
    """The per-user message limit, as the log shows it."""

    def test_refusal_is_logged_with_the_limiter_name(self) -> None:
        """The 21st message of a burst logs one line naming the per-user message limiter."""
        alice = self.connect(self.alice)
        for n in range(20):
            alice.send_json({"content": f"m{n}"})
        self.world.chat.flush()
        self.logs.clear()
        alice.send_json({"content": "one too many"})
        self.world.chat.flush()
        self.assertEqual(self.logs.with_field("limiter"), ["messages-per-user"])
        self.assertEqual([f["code"] for f in alice.of_type("error")], ["rate_limited"])


class SocketLimitAnswerTests(WebSocketLimitCase):
    """The per-user socket limit's refusal, as a client and the log see it."""

    changes = {"max_sockets_per_user": 3}

    def test_refusal_carries_the_limit_and_when_to_retry(self) -> None:
        """The 429 says Retry-After 5 and X-RateLimit-Limit (the configured maximum)."""
        for _ in range(3):
            self.connect(self.alice)
        answer = self.refusal(self.alice)
        self.assertEqual((answer.status, answer.json()["code"]), (429, "rate_limited"))
        self.assertEqual(answer.headers.get("retry-after"), "5")
        self.assertEqual(answer.headers.get("x-ratelimit-limit"), "3")

    def test_refusal_is_logged_with_the_limiter_name(self) -> None:
        """The refused handshake logs one line naming the per-user socket limiter."""
        for _ in range(3):
            self.connect(self.alice)
        self.logs.clear()
        self.refusal(self.alice)
        texts = [text for text in self.logs.texts() if "rate limited" in text]
        self.assertEqual(len(texts), 1, texts)
        self.assertIn("sockets-per-user", texts[0])
