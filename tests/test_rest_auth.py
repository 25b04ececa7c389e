"""REST: register, login, and the token check on every authenticated route."""

from __future__ import annotations

from typing import Any

import jwt

from tests.fakes import TEST_SECRET
from tests.rest_support import PASSWORD, Reply, RestTestCase, alice_claims, forge

EXPIRY_SECONDS = 24 * 3600  # config_for_tests keeps the default JWT_EXPIRY


class RegisterTests(RestTestCase):
    """``POST /api/register``."""

    def register_raw(self, body: Any) -> Reply:
        return self.request("POST", "/api/register", json=body)

    def test_register_is_201_with_token_and_user(self) -> None:
        """A new account answers 201 with a token and the User object, and nothing else."""
        self.reactor.advance(1234.5)
        reply = self.register_raw({"username": "alice", "password": PASSWORD})
        self.assertEqual(reply.code, 201)
        self.assertEqual(reply.header("content-type"), "application/json")
        body = reply.json()
        self.assertEqual(set(body), {"token", "user"})
        self.assertEqual(body["user"], {"id": 1, "username": "alice", "created_at": 1234500})
        self.assertIsInstance(body["token"], str)

    def test_register_never_returns_a_hash(self) -> None:
        """No part of the answer carries the password or its bcrypt hash."""
        reply = self.register_raw({"username": "alice", "password": PASSWORD})
        self.assertNotIn(b"$2b$", reply.body)
        self.assertNotIn(PASSWORD.encode(), reply.body)
        self.assertNotIn(b"hash", reply.body)

    def test_registered_token_claims(self) -> None:
        """HS256 with sub (user id as a string), username, iat, exp, a session and gen 0."""
        self.reactor.advance(1000)
        token = self.register_raw({"username": "alice", "password": PASSWORD}).json()["token"]
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "HS256")
        claims = jwt.decode(
            token, TEST_SECRET, algorithms=["HS256"], options={"verify_exp": False}
        )
        self.assertIsInstance(claims.pop("sid"), str)
        self.assertEqual(
            claims,
            {"sub": "1", "username": "alice", "iat": 1000, "exp": 1000 + EXPIRY_SECONDS, "gen": 0},
        )

    def test_usernames_at_the_length_limits_are_accepted(self) -> None:
        """3 and 32 characters of letters, digits, ``_ . -`` are valid usernames."""
        for name in ("abc", "A" * 32, "a_b.c-9"):
            reply = self.register_raw({"username": name, "password": PASSWORD})
            self.assertEqual(reply.code, 201, name)

    def test_bad_usernames_are_400_invalid_request(self) -> None:
        """Too short, too long, or with other characters: 400 ``invalid_request``."""
        for name in ("ab", "a" * 33, "", "with space", "émile", "semi;colon", "a\nb", "名前名前"):
            reply = self.register_raw({"username": name, "password": PASSWORD})
            self.assert_error(reply, 400, "invalid_request")

    def test_password_of_72_multibyte_bytes_is_accepted(self) -> None:
        """The limit counts UTF-8 bytes: 24 three-byte characters (72 bytes) are allowed."""
        password = "€" * 24
        self.assertEqual(len(password.encode("utf-8")), 72)
        reply = self.register_raw({"username": "alice", "password": password})
        self.assertEqual(reply.code, 201)
        login = self.request(
            "POST", "/api/login", json={"username": "alice", "password": password}
        )
        self.assertEqual(login.code, 200)

    def test_password_of_73_bytes_is_400(self) -> None:
        """73 UTF-8 bytes is a 400, never a silent truncation."""
        for password in ("x" * 73, "€" * 24 + "x", "€" * 25):
            reply = self.register_raw({"username": "alice", "password": password})
            self.assert_error(reply, 400, "password_too_long")

    def test_password_of_8_bytes_is_accepted_and_7_is_400(self) -> None:
        """The shortest password is 8 bytes."""
        self.assert_error(
            self.register_raw({"username": "bob", "password": "1234567"}), 400, "invalid_request"
        )
        self.assertEqual(self.register_raw({"username": "bob", "password": "12345678"}).code, 201)

    def test_short_multibyte_password_counts_bytes(self) -> None:
        """Three characters that make 9 UTF-8 bytes are long enough."""
        reply = self.register_raw({"username": "bob", "password": "€€€"})
        self.assertEqual(reply.code, 201)

    def test_duplicate_username_is_409_case_insensitively(self) -> None:
        """A name taken in any letter case is 409 ``conflict``."""
        self.register("Alice")
        for name in ("Alice", "alice", "ALICE"):
            reply = self.register_raw({"username": name, "password": PASSWORD})
            self.assert_error(reply, 409, "conflict")

    def test_wrong_types_are_400_invalid_request(self) -> None:
        """Valid JSON that is not an object of two strings is 400 ``invalid_request``."""
        bodies: list[Any] = [
            {"username": 12345, "password": PASSWORD},
            {"username": "alice", "password": 12345678},
            {"username": ["alice"], "password": PASSWORD},
            {"username": True, "password": PASSWORD},
            {"username": None, "password": PASSWORD},
            {"username": "alice"},
            {"password": PASSWORD},
            {},
            ["alice", PASSWORD],
            None,
            "alice",
            42,
        ]
        for body in bodies:
            self.assert_error(self.register_raw(body), 400, "invalid_request")

    def test_unusable_bodies_are_400_invalid_json(self) -> None:
        """An empty body, bytes that are not UTF-8, or unparseable JSON: 400 ``invalid_json``."""
        for data in (
            b"",
            b"   ",
            b"\xff\xfe{}",
            b'{"username": "\xe9mile", "password": "correct horse"}',
            b"{",
            b"{'username': 'alice'}",
            b'{"username": "alice",}',
            b"NaNaNa",
        ):
            reply = self.request("POST", "/api/register", data=data)
            self.assert_error(reply, 400, "invalid_json")

    def test_missing_body_is_400_invalid_json(self) -> None:
        """A POST without any body is 400 ``invalid_json``."""
        self.assert_error(self.request("POST", "/api/register"), 400, "invalid_json")

    def test_json_without_content_type_is_accepted(self) -> None:
        """The Content-Type header is not checked: a JSON body without one works."""
        reply = self.request(
            "POST", "/api/register", data=b'{"username": "bob", "password": "correct horse"}'
        )
        self.assertEqual(reply.code, 201, reply.body)

    def test_json_with_odd_content_types_is_accepted(self) -> None:
        """Text, form or made-up content types do not stop a JSON body."""
        content_types = (
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "nonsense",
        )
        for number, content_type in enumerate(content_types):
            reply = self.request(
                "POST",
                "/api/register",
                data=b'{"username": "user%d", "password": "correct horse"}' % number,
                headers={"Content-Type": content_type},
            )
            self.assertEqual(reply.code, 201, (content_type, reply.body))

    def test_nul_bytes_are_400_not_500(self) -> None:
        """A NUL character in the username or password is a 400."""
        for body in (
            {"username": "ali\x00ce", "password": PASSWORD},
            {"username": "alice", "password": "correct\x00horse"},
        ):
            self.assert_error(self.register_raw(body), 400, "invalid_request")

    def test_lone_surrogates_are_400_not_500(self) -> None:
        """A lone surrogate escape (not encodable as UTF-8) in a field is a 400."""
        for data in (
            b'{"username": "alice", "password": "correct horse\\ud800"}',
            b'{"username": "al\\udfffice", "password": "correct horse"}',
        ):
            reply = self.request("POST", "/api/register", data=data)
            self.assert_error(reply, 400, "invalid_request")

    def test_deeply_nested_json_is_400(self) -> None:
        """Nesting deep enough to trouble a recursive parser is a 400, at any depth."""
        for depth in (40, 1000, 30000):
            data = b"[" * depth + b"]" * depth
            reply = self.request("POST", "/api/register", data=data)
            self.assertEqual(reply.code, 400, depth)
            self.assertIn(reply.json()["code"], ("invalid_json", "invalid_request"))
        nested = b'{"username": "alice", "password": "correct horse", "x": %s1%s}' % (
            b"[" * 100,
            b"]" * 100,
        )
        self.assert_error(
            self.request("POST", "/api/register", data=nested), 400, "invalid_request"
        )

    def test_huge_integer_is_400(self) -> None:
        """An integer too long for Python's int parser is a 400, not a 500."""
        reply = self.request("POST", "/api/register", data=b'{"username": ' + b"9" * 5000 + b"}")
        self.assertEqual(reply.code, 400)

    def test_extra_fields_are_ignored(self) -> None:
        """Unknown keys do not stop a registration."""
        reply = self.register_raw({"username": "alice", "password": PASSWORD, "admin": True})
        self.assertEqual(reply.code, 201)


class LoginTests(RestTestCase):
    """``POST /api/login``."""

    def login(self, username: str, password: str) -> Reply:
        return self.request(
            "POST", "/api/login", json={"username": username, "password": password}
        )

    def test_login_is_200_with_token_and_user(self) -> None:
        """Right credentials answer 200 with a token and the User object."""
        _, user_id = self.register("alice")
        reply = self.login("alice", PASSWORD)
        self.assertEqual(reply.code, 200)
        body = reply.json()
        self.assertEqual(set(body), {"token", "user"})
        self.assertEqual(body["user"], {"id": user_id, "username": "alice", "created_at": 0})

    def test_login_is_case_insensitive_on_the_username(self) -> None:
        """Usernames are unique case-insensitively, so any case logs in."""
        self.register("Alice")
        reply = self.login("aLICE", PASSWORD)
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json()["user"]["username"], "Alice")

    def test_wrong_password_is_401(self) -> None:
        """A wrong password is 401 ``invalid_credentials``."""
        self.register("alice")
        self.assert_error(self.login("alice", PASSWORD + "!"), 401, "invalid_credentials")

    def test_unknown_user_is_401(self) -> None:
        """An unknown username is 401 ``invalid_credentials``."""
        self.assert_error(self.login("nobody", PASSWORD), 401, "invalid_credentials")

    def test_unknown_user_and_wrong_password_bodies_are_identical(self) -> None:
        """Nothing in the answer tells an unknown user from a wrong password."""
        self.register("alice")
        wrong = self.login("alice", "not the password")
        unknown = self.login("nobody", "not the password")
        self.assertEqual((wrong.code, wrong.body), (unknown.code, unknown.body))
        self.assertEqual(
            wrong.headers.getRawHeaders("content-type"),
            unknown.headers.getRawHeaders("content-type"),
        )

    def test_overlong_password_is_401(self) -> None:
        """A password over 72 bytes cannot be right: 401, not 400 or 500."""
        self.register("alice", "p" * 72)
        for password in ("p" * 73, "p" * 72 + "€", "x" * 10_000):
            self.assert_error(self.login("alice", password), 401, "invalid_credentials")

    def test_empty_credentials_are_401(self) -> None:
        """Empty strings are wrong credentials, not a server fault."""
        self.register("alice")
        self.assert_error(self.login("", ""), 401, "invalid_credentials")

    def test_malformed_login_bodies_are_400(self) -> None:
        """Broken JSON is ``invalid_json``; a non-object or wrong types ``invalid_request``."""
        self.assert_error(self.request("POST", "/api/login", data=b"{"), 400, "invalid_json")
        self.assert_error(self.request("POST", "/api/login", data=b""), 400, "invalid_json")
        bodies: list[Any] = [[], {"username": 1, "password": PASSWORD}, {"username": "alice"}]
        for body in bodies:
            self.assert_error(
                self.request("POST", "/api/login", json=body), 400, "invalid_request"
            )

    def test_login_token_works_on_an_authenticated_route(self) -> None:
        """The token from a login opens ``GET /api/rooms``."""
        self.register("alice")
        token = self.login("alice", PASSWORD).json()["token"]
        reply = self.request("GET", "/api/rooms", token=token)
        self.assertEqual(reply.code, 200)


ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/api/rooms", None),
    ("POST", "/api/rooms", {"name": "new room"}),
    ("POST", "/api/rooms/create", {"name": "new room"}),
    ("GET", "/api/messages?roomId=1", None),
    ("POST", "/api/ws-ticket", None),
)


class AuthenticationTests(RestTestCase):
    """The token check on every authenticated route."""

    def setUp(self) -> None:
        super().setUp()
        self.token, self.user_id = self.register("alice")

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Claims like the service's own for alice, with some changed or (None) removed."""
        return alice_claims(self.user_id, int(self.reactor.seconds()), **changes)

    def answers(self, headers: dict[str, str]) -> dict[str, tuple[int, str | None]]:
        """Call every authenticated route with these headers; (status, code) by route."""
        results = {}
        for method, path, body in ROUTES:
            if body is None:
                reply = self.request(method, path, headers=headers)
            else:
                reply = self.request(method, path, headers=headers, json=body)
            self.assertEqual(reply.header("content-type"), "application/json", path)
            code = reply.json().get("code") if reply.code >= 400 else None
            results[f"{method} {path}"] = (reply.code, code)
        return results

    def assert_refused(self, headers: dict[str, str], code: str = "unauthorized") -> None:
        """Every authenticated route answers 401 with ``code``."""
        expected = {f"{m} {p}": (401, code) for m, p, _ in ROUTES}
        self.assertEqual(self.answers(headers), expected)

    def assert_accepted(self, headers: dict[str, str]) -> None:
        """Every authenticated route answers 2xx."""
        results = self.answers(headers)
        self.assertEqual(
            {route: status for route, (status, _) in results.items()},
            {
                "GET /api/rooms": 200,
                "POST /api/rooms": 201,
                "POST /api/rooms/create": 409,  # same name as the alias just made
                "GET /api/messages?roomId=1": 200,
                "POST /api/ws-ticket": 201,
            },
        )

    def test_bearer_token_is_accepted(self) -> None:
        """``Authorization: Bearer <jwt>`` opens every authenticated route."""
        self.assert_accepted({"Authorization": f"Bearer {self.token}"})

    def test_scheme_is_case_insensitive(self) -> None:
        """``bearer`` and ``BEARER`` work like ``Bearer``."""
        self.assert_accepted({"Authorization": f"bearer {self.token}"})
        self.assertEqual(
            self.request(
                "GET", "/api/rooms", headers={"Authorization": f"BEARER {self.token}"}
            ).code,
            200,
        )

    def test_bare_token_is_accepted(self) -> None:
        """``Authorization: <jwt>`` without a scheme works (the original clients send it)."""
        self.assert_accepted({"Authorization": self.token})

    def test_no_header_is_401(self) -> None:
        """No Authorization header: 401 ``unauthorized`` on every route."""
        self.assert_refused({})

    def test_empty_header_is_401(self) -> None:
        """An empty Authorization header is 401."""
        self.assert_refused({"Authorization": ""})

    def test_scheme_without_token_is_401(self) -> None:
        """``Bearer`` alone, or ``bearer`` with blanks, is 401."""
        self.assert_refused({"Authorization": "Bearer"})
        self.assert_refused({"Authorization": "bearer   "})

    def test_garbage_token_is_401(self) -> None:
        """Strings that are not JWTs are 401, bare or after ``Bearer``."""
        for value in ("Bearer garbage", "garbage", "Bearer a.b.c", "Basic YWxpY2U6cHc="):
            self.assert_refused({"Authorization": value})

    def test_token_signed_with_another_key_is_401(self) -> None:
        """A token signed with any key but JWT_SECRET is 401."""
        forged = forge(self.claims(), key="another-secret-that-is-also-32-bytes-long")
        self.assert_refused({"Authorization": f"Bearer {forged}"})

    def test_alg_none_is_401(self) -> None:
        """An unsigned ``alg: none`` token is 401."""
        unsigned = forge(self.claims(), key="", algorithm="none")
        self.assert_refused({"Authorization": f"Bearer {unsigned}"})
        self.assert_refused({"Authorization": f"Bearer {unsigned}signature"})

    def test_other_algorithms_are_401(self) -> None:
        """HS384 and HS512 tokens are 401 even with the right key: only HS256 is accepted."""
        for algorithm in ("HS384", "HS512"):
            forged = forge(self.claims(), algorithm=algorithm)
            self.assert_refused({"Authorization": f"Bearer {forged}"})

    def test_expired_token_is_401_token_expired(self) -> None:
        """Once JWT_EXPIRY has passed the service's own token is 401 ``token_expired``."""
        self.reactor.advance(EXPIRY_SECONDS - 1)
        self.assertEqual(self.request("GET", "/api/rooms", token=self.token).code, 200)
        self.reactor.advance(1)
        self.assert_refused({"Authorization": f"Bearer {self.token}"}, code="token_expired")

    def test_missing_claims_are_401(self) -> None:
        """A token without ``exp``, ``iat`` or ``sub`` is 401."""
        for claim in ("exp", "iat", "sub"):
            forged = forge(self.claims(**{claim: None}))
            self.assert_refused({"Authorization": f"Bearer {forged}"})

    def test_malformed_claims_are_401(self) -> None:
        """A non-numeric or non-string ``sub``, or a non-numeric ``exp``, is 401."""
        for changes in (
            {"sub": "alice"},
            {"sub": "-1"},
            {"sub": 1},
            {"exp": "tomorrow"},
            {"username": None},
        ):
            forged = forge(self.claims(**changes))
            self.assert_refused({"Authorization": f"Bearer {forged}"})

    def test_token_from_the_future_is_401(self) -> None:
        """A token issued an hour from now is 401."""
        now = int(self.reactor.seconds())
        forged = forge(self.claims(iat=now + 3600, exp=now + 7200))
        self.assert_refused({"Authorization": f"Bearer {forged}"})

    def test_token_of_a_user_that_does_not_exist_is_401(self) -> None:
        """A validly signed token for an unknown user id is 401."""
        forged = forge(self.claims(sub="999", username="ghost"))
        self.assert_refused({"Authorization": f"Bearer {forged}"})

    def test_forged_claims_with_the_right_key_are_accepted(self) -> None:
        """The forging helper itself makes tokens the service accepts (the controls are real)."""
        self.assert_accepted({"Authorization": f"Bearer {forge(self.claims())}"})
