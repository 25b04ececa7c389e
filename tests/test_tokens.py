"""HS256 tokens: issue, verify, expiry on an injected clock."""

from __future__ import annotations

from typing import Any

import jwt
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatservice.errors import Unauthorized
from chatservice.models import User
from chatservice.tokens import Identity, TokenIssuer
from tests.fakes import TEST_SECRET
from tests.rest_support import forge

LIFETIME = 3600
START = 1_700_000_000


def bob_token(*, key: str = TEST_SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    """A token with the issuer's claims for bob, some changed or (None) removed."""
    claims: dict[str, Any] = {
        "sub": "7",
        "username": "bob",
        "iat": START,
        "exp": START + LIFETIME,
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return forge(claims, key, algorithm)


class TokenIssuerTests(SynchronousTestCase):
    """``TokenIssuer.issue`` and ``verify``."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.issuer = TokenIssuer(TEST_SECRET, LIFETIME, self.clock)
        self.user = User(7, "bob", 0)

    forge = staticmethod(bob_token)

    def assert_refused(self, token: str, code: str = "unauthorized") -> None:
        error = self.assertRaises(Unauthorized, self.issuer.verify, token)
        self.assertEqual((error.status, error.code), (401, code))

    def test_roundtrip(self) -> None:
        """A token verifies to its user's id, name, expiry, session and generation."""
        token = self.issuer.issue(self.user, "s-1", 3)
        self.assertEqual(self.issuer.verify(token), Identity(7, "bob", START + LIFETIME, "s-1", 3))

    def test_claims(self) -> None:
        """HS256 with sub as a string, username, iat and exp in seconds, sid and gen."""
        token = self.issuer.issue(self.user)
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "HS256")
        claims = jwt.decode(token, options={"verify_signature": False})
        session = claims.pop("sid")
        self.assertEqual(
            claims,
            {"sub": "7", "username": "bob", "iat": START, "exp": START + LIFETIME, "gen": 0},
        )
        self.assertRegex(session, r"^[A-Za-z0-9_-]{22}$")

    def test_every_issue_is_a_new_session_unless_one_is_given(self) -> None:
        """Two tokens issued alike have two session ids; a given one is kept."""
        sessions = {self.issuer.verify(self.issuer.issue(self.user)).session for _ in range(2)}
        self.assertEqual(len(sessions), 2)
        self.assertEqual(self.issuer.verify(self.issuer.issue(self.user, "kept")).session, "kept")

    def test_a_token_from_before_sessions_is_generation_0_without_one(self) -> None:
        """No ``sid`` and no ``gen`` (an older token): generation 0, no session."""
        self.assertEqual(self.issuer.verify(self.forge()), Identity(7, "bob", START + LIFETIME))

    def test_bad_session_and_generation_claims_are_refused(self) -> None:
        """A sid that we could not have made, or a gen that is not a count, is unauthorized."""
        for changes in (
            {"sid": ""},
            {"sid": 5},
            {"sid": "x" * 65},
            {"sid": "has space"},
            {"gen": -1},
            {"gen": True},
            {"gen": 1.5},
            {"gen": "1"},
            {"gen": 2**63},
        ):
            self.assert_refused(self.forge(**changes))
        self.assertEqual(self.issuer.verify(self.forge(sid="a-b_C9", gen=4)).generation, 4)

    def test_forge_helper_matches_the_issuer(self) -> None:
        """The forging helper's default token is accepted (so refusals below are real)."""
        self.assertEqual(self.issuer.verify(self.forge()).user_id, 7)

    def test_valid_until_just_before_exp(self) -> None:
        """One second before ``exp`` the token is still good."""
        token = self.issuer.issue(self.user)
        self.clock.advance(LIFETIME - 1)
        self.assertEqual(self.issuer.verify(token).user_id, 7)

    def test_expired_at_exactly_exp(self) -> None:
        """At ``exp`` the token is expired: ``token_expired``."""
        token = self.issuer.issue(self.user)
        self.clock.advance(LIFETIME)
        self.assert_refused(token, "token_expired")

    def test_future_iat_is_refused(self) -> None:
        """A token issued in the future (beyond a minute of skew) is refused."""
        self.assert_refused(self.forge(iat=START + 3600, exp=START + 7200))
        self.assert_refused(self.forge(iat=START + 61))

    def test_small_clock_skew_is_tolerated(self) -> None:
        """A token issued up to a minute ahead of our clock is accepted."""
        self.assertEqual(self.issuer.verify(self.forge(iat=START + 60)).user_id, 7)

    def test_non_numeric_sub_is_refused(self) -> None:
        """``sub`` must be the user id as a string of digits."""
        for sub in ("bob", "-7", "7.0", "", " 7"):
            self.assert_refused(self.forge(sub=sub))

    def test_non_string_sub_is_refused(self) -> None:
        """``sub`` as a JSON number is refused."""
        self.assert_refused(self.forge(sub=7))

    def test_missing_claims_are_refused(self) -> None:
        """``exp``, ``iat``, ``sub`` and ``username`` are required."""
        for claim in ("exp", "iat", "sub", "username"):
            removed: dict[str, Any] = {claim: None}
            self.assert_refused(self.forge(**removed))

    def test_wrong_claim_types_are_refused(self) -> None:
        """Non-numeric ``exp`` or ``iat``, or a boolean ``exp``, are refused."""
        for changes in ({"exp": "never"}, {"exp": True}, {"iat": "now"}, {"username": 5}):
            self.assert_refused(self.forge(**changes))

    def test_other_keys_and_algorithms_are_refused(self) -> None:
        """Another key, HS384/HS512, or ``alg: none`` are refused."""
        self.assert_refused(self.forge(key="x" * 32))
        self.assert_refused(self.forge(algorithm="HS384"))
        self.assert_refused(self.forge(algorithm="HS512"))
        self.assert_refused(self.forge(key="", algorithm="none"))

    def test_garbage_is_refused(self) -> None:
        """Strings that are not JWTs are refused."""
        for token in ("", "abc", "a.b.c", self.issuer.issue(self.user)[:-2]):
            self.assert_refused(token)

    def test_secrets_differ(self) -> None:
        """A token of one secret is refused by an issuer with another."""
        other = TokenIssuer("y" * 32, LIFETIME, self.clock)
        self.assert_refused(other.issue(self.user))


class NonAsciiSubjectTests(SynchronousTestCase):
    """A subject that is a digit only in Unicode's sense is refused, not a crash."""

    def test_superscript_digit_sub_is_unauthorized(self) -> None:
        """``sub: "²"`` (str.isdigit() is True, int() fails) is a 401."""
        clock = Clock()
        clock.advance(1_000_000)
        issuer = TokenIssuer(TEST_SECRET, 3600, clock)
        token = jwt.encode(
            {"sub": "²", "username": "x", "iat": 1_000_000, "exp": 1_003_600},
            TEST_SECRET,
            algorithm="HS256",
        )
        with self.assertRaises(Unauthorized):
            issuer.verify(token)


class OutOfRangeClaimTests(SynchronousTestCase):
    """Numbers in a validly signed token that no user id or time can be: 401, never a 500."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.issuer = TokenIssuer(TEST_SECRET, LIFETIME, self.clock)

    token = staticmethod(bob_token)

    def assert_refused(self, token: str) -> None:
        error = self.assertRaises(Unauthorized, self.issuer.verify, token)
        self.assertEqual((error.status, error.code), (401, "unauthorized"))

    def test_largest_64_bit_sub_is_accepted(self) -> None:
        """A sub of 2**63-1 is a possible id: it verifies; the store says if it exists."""
        self.assertEqual(self.issuer.verify(self.token(sub=str(2**63 - 1))).user_id, 2**63 - 1)

    def test_sub_beyond_64_bits_is_refused(self) -> None:
        """A sub past 2**63-1 (e.g. 100000000000000000000) is no id this service issues."""
        for sub in (str(2**63), "100000000000000000000"):
            self.assert_refused(self.token(sub=sub))

    def test_sub_of_thousands_of_digits_is_refused(self) -> None:
        """A sub longer than Python parses (4,300 digits) is a 401, not a ValueError."""
        self.assert_refused(self.token(sub="9" * 5000))

    def test_leading_zeros_do_not_hide_a_small_sub(self) -> None:
        """Zeros in front of a sub are not digits of its value."""
        self.assertEqual(self.issuer.verify(self.token(sub="0" * 5000 + "7")).user_id, 7)

    def test_zero_sub_is_refused(self) -> None:
        """Ids start at 1."""
        self.assert_refused(self.token(sub="0"))

    def test_huge_exp_is_refused(self) -> None:
        """An exp past 1e308 (no float holds it) is a 401, not an OverflowError."""
        self.assert_refused(self.token(exp=10**400))

    def test_non_finite_times_are_refused(self) -> None:
        """Infinity or NaN in exp or iat (PyJWT's JSON reader accepts them) is refused."""
        for claim in ("exp", "iat"):
            for value in (float("inf"), float("-inf"), float("nan")):
                changes: dict[str, Any] = {claim: value}
                with self.subTest(claim=claim, value=value):
                    self.assert_refused(self.token(**changes))


class VerifiedTokenCacheTests(SynchronousTestCase):
    """A token is decoded and its signature checked once; its times every time.

    PyJWT's decode was a fifth of a WebSocket handshake's CPU
    (``bench/handshake_cpu.py`` under cProfile), paid again by every
    reconnect and every REST call with the same token.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.issuer = TokenIssuer(TEST_SECRET, LIFETIME, self.clock, cache_size=3)
        self.decodes = 0
        real = jwt.decode

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.decodes += 1
            return real(*args, **kwargs)

        self.patch(jwt, "decode", counting)

    def test_a_token_seen_before_is_not_decoded_again(self) -> None:
        token = self.issuer.issue(User(7, "bob", 0), "s-1", 2)
        first = self.issuer.verify(token)
        self.assertEqual(self.issuer.verify(token), first)
        self.assertEqual(self.decodes, 1)

    def test_a_cached_token_still_expires(self) -> None:
        token = self.issuer.issue(User(7, "bob", 0))
        self.issuer.verify(token)
        self.clock.advance(LIFETIME)
        error = self.assertRaises(Unauthorized, self.issuer.verify, token)
        self.assertEqual(error.code, "token_expired")

    def test_a_cached_token_issued_ahead_of_the_clock_waits_for_it(self) -> None:
        token = bob_token(iat=START + 60)
        self.issuer.verify(token)
        self.clock.advance(-1)  # the clock stepped back: now more than a minute early
        self.assertRaises(Unauthorized, self.issuer.verify, token)

    def test_refused_tokens_are_not_remembered(self) -> None:
        forged = bob_token(key="another-secret-another-secret-another-secret")
        for _ in range(2):
            self.assertRaises(Unauthorized, self.issuer.verify, forged)
        self.assertEqual(self.decodes, 2)

    def test_the_cache_is_bounded_and_forgets_the_oldest(self) -> None:
        tokens = [self.issuer.issue(User(n, f"u{n}", 0)) for n in range(1, 5)]
        for token in tokens:
            self.issuer.verify(token)
        self.assertEqual(self.decodes, 4)
        self.issuer.verify(tokens[-1])  # still remembered
        self.assertEqual(self.decodes, 4)
        self.issuer.verify(tokens[0])  # forgotten: the cache holds 3
        self.assertEqual(self.decodes, 5)

    def test_other_spellings_of_a_token_take_no_place(self) -> None:
        """A spelling of a good token other than ours verifies, but is not remembered.

        PyJWT before 2.14 (``setup.py`` allows 2.13) skipped whatever is
        not base64 in a signature (GHSA-hxm8-2xgr-2p9m), so the holder of one
        good token could fill the cache with spellings of it, each as long as
        a header allows, and push everyone else's tokens out. 2.15 still
        takes a padded signature (``=``).
        """
        real = jwt.decode

        def lenient(token: str, *args: Any, **kwargs: Any) -> Any:
            self.decodes += 1
            return real(token.rstrip("!~"), *args, **kwargs)  # as PyJWT 2.13 decoded

        self.patch(jwt, "decode", lenient)
        kept = self.issuer.issue(User(1, "u1", 0))
        self.issuer.verify(kept)
        mine = self.issuer.issue(User(2, "u2", 0))
        for junk in range(1, 6):
            self.assertEqual(self.issuer.verify(mine + "!" * junk + "~" * 1000).user_id, 2)
        self.assertEqual(self.issuer.verify(mine + "=").user_id, 2)
        decodes = self.decodes
        self.issuer.verify(kept)  # still remembered
        self.assertEqual(self.decodes, decodes)
