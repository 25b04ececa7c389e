"""account_forms.py: what the account and admin routes accept, and the 400s for the rest."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from chatservice.account_forms import (
    DEFAULT_USERS_LIMIT,
    PasswordChange,
    UsersQuery,
    parse_password,
    parse_password_change,
    parse_reason,
    parse_user_id,
    parse_users_query,
)
from chatservice.errors import InvalidJSON, InvalidRequest, PasswordTooLong
from chatservice.room_forms import MAX_REASON


def body(value: object) -> bytes:
    """``value`` as a JSON body."""
    return json.dumps(value).encode()


class PasswordFormTests(SynchronousTestCase):
    """Passwords: the new one follows the registration rules; the current one is any string."""

    def test_a_valid_change(self) -> None:
        """Two strings, the new one 8-72 bytes."""
        parsed = parse_password_change(body({"current_password": "x", "new_password": "€" * 24}))
        self.assertEqual(parsed, PasswordChange("x", "€" * 24))

    def test_bad_changes(self) -> None:
        """Short new password, wrong types, missing fields, not an object, not JSON."""
        for raw, error in (
            (body({"current_password": "x", "new_password": "short"}), InvalidRequest),
            (body({"current_password": "x", "new_password": "€" * 25}), PasswordTooLong),
            (body({"current_password": 1, "new_password": "long enough"}), InvalidRequest),
            (body({"new_password": "long enough"}), InvalidRequest),
            (body({"current_password": "x"}), InvalidRequest),
            (body(["x"]), InvalidRequest),
            (b"{", InvalidJSON),
        ):
            self.assertRaises(error, parse_password_change, raw)

    def test_the_password_to_confirm(self) -> None:
        """``{"password"}``: a string, required."""
        self.assertEqual(parse_password(body({"password": "anything"})), "anything")
        for raw in (body({}), body({"password": None}), body({"password": 5}), b""):
            self.assertRaises((InvalidRequest, InvalidJSON), parse_password, raw)


class ReasonTests(SynchronousTestCase):
    """The optional reason of an admin action."""

    def test_no_body_empty_object_or_null_is_no_reason(self) -> None:
        """Nothing, ``{}``, ``{"reason": null}`` and blank text all mean no reason."""
        for raw in (b"", b"  ", body({}), body({"reason": None}), body({"reason": "  "})):
            self.assertIsNone(parse_reason(raw))

    def test_a_reason_is_trimmed_and_bounded(self) -> None:
        """Up to MAX_REASON characters; longer, another type or not an object is 400."""
        self.assertEqual(parse_reason(body({"reason": " spam "})), "spam")
        self.assertEqual(parse_reason(body({"reason": "r" * MAX_REASON})), "r" * MAX_REASON)
        for raw in (body({"reason": "r" * (MAX_REASON + 1)}), body({"reason": 1}), body([1])):
            self.assertRaises(InvalidRequest, parse_reason, raw)


class UsersQueryTests(SynchronousTestCase):
    """``q``, ``after`` and ``limit`` of the admin user list."""

    def test_defaults_and_values(self) -> None:
        """No parameters: everyone from the start; given ones are used."""
        self.assertEqual(parse_users_query({}), UsersQuery(None, 0, DEFAULT_USERS_LIMIT))
        query = {b"q": [b"al"], b"after": [b"7"], b"limit": [b"200"]}
        self.assertEqual(parse_users_query(query), UsersQuery("al", 7, 200))
        self.assertEqual(parse_users_query({b"q": [b""]}).query, None)

    def test_bad_values_are_400(self) -> None:
        """A long or non-UTF-8 ``q``, a bad limit or cursor."""
        for query in (
            {b"q": [b"x" * 65]},
            {b"q": [b"\xff"]},
            {b"q": [b"a\x00b"]},
            {b"limit": [b"0"]},
            {b"limit": [b"201"]},
            {b"after": [b"-1"]},
            {b"after": [b"9" * 30]},
        ):
            self.assertRaises(InvalidRequest, parse_users_query, query)


class UserIdTests(SynchronousTestCase):
    """A user id in a path."""

    def test_ids(self) -> None:
        """1..2^63-1 in decimal; anything else is 400."""
        self.assertEqual(parse_user_id("42"), 42)
        self.assertEqual(parse_user_id(str(2**63 - 1)), 2**63 - 1)
        for raw in ("0", "-1", "x", "1.5", "", str(2**63), "٣", "9" * 5000):
            self.assertRaises(InvalidRequest, parse_user_id, raw)
