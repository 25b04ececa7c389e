"""Sans-I/O parsing of REST bodies, query strings and WebSocket frames."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from chatservice.errors import ChatError, InvalidJSON, InvalidRequest
from chatservice.frames import parse_client_frame
from chatservice.wire import (
    MAX_JSON_DEPTH,
    CredentialsForm,
    FrameError,
    HistoryQuery,
    RoomForm,
    dumps,
    error_body,
    parse_history_query,
    parse_json,
    parse_login,
    parse_object,
    parse_registration,
    parse_room,
    query_int,
)


def creds(username: str = "alice", password: str = "correct horse") -> bytes:
    """A register or login body."""
    return dumps({"username": username, "password": password})


class DumpsTests(SynchronousTestCase):
    """Rendering JSON."""

    def test_dumps_is_compact_utf8(self) -> None:
        """Output has no spaces and keeps non-ASCII characters as UTF-8."""
        self.assertEqual(dumps({"a": [1, "é"]}), '{"a":[1,"é"]}'.encode())

    def test_error_body_has_error_and_code(self) -> None:
        """An error renders as ``{"error", "code"}``."""
        body = json.loads(error_body(InvalidRequest("Bad thing.")))
        self.assertEqual(body, {"error": "Bad thing.", "code": "invalid_request"})


class ParseJsonTests(SynchronousTestCase):
    """Decoding request bodies."""

    def test_object_is_decoded(self) -> None:
        """A JSON object comes back as a dict, from bytes or text."""
        self.assertEqual(parse_object(b'{"a": 1}'), {"a": 1})
        self.assertEqual(parse_object('{"a": 1}'), {"a": 1})

    def test_empty_body_is_invalid_json(self) -> None:
        """An empty or blank body is ``InvalidJSON``."""
        for data in (b"", b" \r\n\t"):
            self.assertRaises(InvalidJSON, parse_json, data)

    def test_non_utf8_is_invalid_json(self) -> None:
        """Bytes that are not UTF-8 are ``InvalidJSON``."""
        self.assertRaises(InvalidJSON, parse_json, b'{"a": "\xff"}')

    def test_unparseable_is_invalid_json(self) -> None:
        """Text that is not JSON is ``InvalidJSON``."""
        for data in (b"{", b"{'a': 1}", b"[1,]", b"undefined", b"1" * 5000):
            self.assertRaises(InvalidJSON, parse_json, data)

    def test_non_objects_are_invalid_request(self) -> None:
        """Valid JSON that is not an object is ``InvalidRequest``."""
        for data in (b"[]", b"null", b"1", b'"s"', b"true"):
            error = self.assertRaises(InvalidRequest, parse_object, data)
            self.assertEqual(error.code, "invalid_request")

    def test_nesting_at_the_limit_is_allowed(self) -> None:
        """Containers nested ``MAX_JSON_DEPTH`` deep are accepted."""
        data = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
        self.assertEqual(parse_json(data), json.loads(data))

    def test_nesting_past_the_limit_is_refused(self) -> None:
        """One level deeper, and far deeper (past Python's recursion limit), is a ChatError."""
        for depth in (MAX_JSON_DEPTH + 1, 100_000):
            data = b"[" * depth + b"]" * depth
            error = self.assertRaises(ChatError, parse_json, data)
            self.assertEqual(error.status, 400)

    def test_deep_objects_count_too(self) -> None:
        """Objects nest like arrays."""
        depth = MAX_JSON_DEPTH + 1
        data = '{"a":' * depth + "1" + "}" * depth
        self.assertRaises(InvalidRequest, parse_json, data.encode())


class RegistrationTests(SynchronousTestCase):
    """``parse_registration``."""

    def test_valid_body(self) -> None:
        """A good body gives a CredentialsForm."""
        self.assertEqual(parse_registration(creds()), CredentialsForm("alice", "correct horse"))

    def test_username_rules(self) -> None:
        """3-32 characters of ``[A-Za-z0-9_.-]``, and nothing else."""
        for good in ("abc", "a" * 32, "A.b_c-1"):
            parse_registration(creds(username=good))
        for bad in ("ab", "a" * 33, "a b", "ä" * 5, "abc\n", "ab\u200b", "１２３"):
            self.assertRaises(InvalidRequest, parse_registration, creds(username=bad))

    def test_password_byte_limits(self) -> None:
        """8 to 72 UTF-8 bytes; longer has the code ``password_too_long``."""
        parse_registration(creds(password="x" * 8))
        parse_registration(creds(password="é" * 36))
        self.assertRaises(InvalidRequest, parse_registration, creds(password="x" * 7))
        error = self.assertRaises(InvalidRequest, parse_registration, creds(password="é" * 37))
        self.assertEqual(error.code, "password_too_long")

    def test_nul_and_surrogates_are_refused(self) -> None:
        """NUL characters and lone surrogates are ``InvalidRequest``."""
        for data in (
            creds(password="correct\x00horse"),
            b'{"username": "alice", "password": "correct horse\\udc00"}',
            b'{"username": "ali\\ud83dce", "password": "correct horse"}',
        ):
            self.assertRaises(InvalidRequest, parse_registration, data)

    def test_surrogate_pair_is_a_character(self) -> None:
        """A correctly paired escape is one ordinary character."""
        form = parse_registration(b'{"username": "alice", "password": "pw\\ud83d\\ude00pwpw"}')
        self.assertEqual(form.password, "pw\U0001f600pwpw")


class LoginParsingTests(SynchronousTestCase):
    """``parse_login`` checks only the shape."""

    def test_any_strings_pass(self) -> None:
        """Short, long or odd credentials are left for the 401 check."""
        self.assertEqual(parse_login(creds("x", "y" * 100)), CredentialsForm("x", "y" * 100))

    def test_wrong_types_are_refused(self) -> None:
        """Missing or non-string fields are ``InvalidRequest``."""
        for body in ({"username": "a"}, {"username": 1, "password": "p"}, {}):
            self.assertRaises(InvalidRequest, parse_login, dumps(body))


class RoomParsingTests(SynchronousTestCase):
    """``parse_room``."""

    def test_name_trimmed_and_description_defaulted(self) -> None:
        """Surrounding white space goes; a missing description is empty."""
        self.assertEqual(parse_room(dumps({"name": "  Lobby "})), RoomForm("Lobby", ""))

    def test_limits_in_code_points(self) -> None:
        """Name 1-64 and description up to 512 characters, counted in code points."""
        parse_room(dumps({"name": "\U0001f600" * 64, "description": "é" * 512}))
        for body in (
            {"name": ""},
            {"name": "x" * 65},
            {"name": "x", "description": "d" * 513},
            {"name": "x", "description": 1},
        ):
            self.assertRaises(InvalidRequest, parse_room, dumps(body))


class QueryTests(SynchronousTestCase):
    """Integer query parameters and the history query."""

    def test_query_int_bounds(self) -> None:
        """Digits within bounds pass; anything else is ``InvalidRequest``."""
        self.assertEqual(query_int({b"n": [b"5"]}, "n", low=1, high=5), 5)
        self.assertEqual(query_int({}, "n", default=9), 9)
        for raw in (b"0", b"6", b"-1", b"+1", b" 1", b"1.0", b"", b"\xd9\xa1"):
            self.assertRaises(InvalidRequest, query_int, {b"n": [raw]}, "n", low=1, high=5)

    def test_first_name_wins(self) -> None:
        """Of several names, the first present is used."""
        args = {b"roomId": [b"1"], b"room_id": [b"2"]}
        self.assertEqual(query_int(args, "roomId", "room_id"), 1)
        self.assertEqual(query_int({b"room_id": [b"2"]}, "roomId", "room_id"), 2)

    def test_history_defaults(self) -> None:
        """Only roomId given: limit 50, no before, no after."""
        self.assertEqual(parse_history_query({b"roomId": [b"3"]}), HistoryQuery(3, 50, None, None))

    def test_history_refusals(self) -> None:
        """No roomId, limit out of 1..500, or both before and after are ``InvalidRequest``."""
        for args in (
            {},
            {b"roomId": [b"1"], b"limit": [b"501"]},
            {b"roomId": [b"1"], b"limit": [b"0"]},
            {b"roomId": [b"1"], b"before": [b"5"], b"after": [b"1"]},
        ):
            self.assertRaises(InvalidRequest, parse_history_query, args)


class ClientFrameTests(SynchronousTestCase):
    """``parse_client_frame``."""

    def test_message_is_trimmed(self) -> None:
        """Content is trimmed; the type defaults to message."""
        frame = parse_client_frame('{"content": "  hi  "}', 10)
        self.assertEqual((frame.kind, frame.content, frame.client_msg_id), ("message", "hi", None))

    def test_typing_needs_no_content(self) -> None:
        """A typing frame carries nothing else."""
        self.assertEqual(parse_client_frame('{"type": "typing"}', 10).kind, "typing")

    def test_content_length_in_code_points(self) -> None:
        """Exactly ``max_length`` code points pass; one more is ``content_too_long``."""
        parse_client_frame(dumps({"content": "\U0001f600" * 10}).decode(), 10)
        error = self.assertRaises(
            FrameError, parse_client_frame, dumps({"content": "x" * 11}).decode(), 10
        )
        self.assertEqual(error.code, "content_too_long")

    def test_refusals_are_frame_errors(self) -> None:
        """Bad JSON, empty content, bad type or bad client_msg_id are FrameErrors."""
        for text in (
            "{",
            "[]",
            '{"content": "   "}',
            '{"content": 5}',
            '{"type": "shout", "content": "x"}',
            '{"content": "x", "client_msg_id": ""}',
            '{"content": "x", "client_msg_id": 7}',
            dumps({"content": "x", "client_msg_id": "i" * 65}).decode(),
        ):
            self.assertRaises(FrameError, parse_client_frame, text, 10)

    def test_error_echoes_a_usable_client_msg_id(self) -> None:
        """A refused frame's error carries its ``client_msg_id`` back."""
        error = self.assertRaises(
            FrameError, parse_client_frame, '{"content": "", "client_msg_id": "c1"}', 10
        )
        self.assertEqual(
            error.to_json(),
            {
                "type": "error",
                "code": "invalid_request",
                "error": error.message,
                "client_msg_id": "c1",
            },
        )
