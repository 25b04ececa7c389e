"""message_forms and frames: what a client may send to act on messages, checked once for both."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chatservice import message_forms as forms
from chatservice.errors import ChatError, ContentTooLong, InvalidRequest
from chatservice.frames import DELETE, EDIT, MESSAGE, REACT, parse_client_frame
from chatservice.wire import MAX_ID, FrameError, dumps


def args(**values: str) -> dict[bytes, list[bytes]]:
    """A request's ``args`` as Twisted gives them."""
    return {key.encode(): [value.encode()] for key, value in values.items()}


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # a zero-width-joined sequence
GOOD_EMOJI = ("\U0001f44d", FAMILY, "\u2764\ufe0f", ":thumbsup:", "+1", "\U0001f44d\U0001f3fd")
# Empty, white space, control, line separator, NBSP, a lone surrogate, too long.
BAD_EMOJI = ("", " ", "a b", "\t", "\x00", "\x7f", "\u2028", "\u00a0x", "\ud83d", "a/b")
# Nothing visible, or reordering what follows: a joiner, a variation selector, RLO.
INVISIBLE_EMOJI = ("\u200d", "\ufe0f\u200d", "\u202e", "x\u202e")
TOO_LONG_EMOJI = ("x" * 33, "\U0001f44d" * 17)


class EmojiTests(SynchronousTestCase):
    """A reaction: a short string without white space or control characters."""

    def test_emoji_sequences_and_names_are_accepted(self) -> None:
        for good in GOOD_EMOJI:
            self.assertEqual(forms.parse_emoji(good), good)

    def test_white_space_control_and_length_are_refused(self) -> None:
        for bad in (*BAD_EMOJI, *INVISIBLE_EMOJI, *TOO_LONG_EMOJI):
            with self.assertRaises(InvalidRequest, msg=repr(bad)):
                forms.parse_emoji(bad)


class PostFormTests(SynchronousTestCase):
    """``POST /api/messages`` and ``PATCH /api/messages/{id}`` bodies."""

    def test_a_full_body(self) -> None:
        body = {"room_id": 3, "content": "  hi  ", "reply_to": 7, "client_msg_id": "c-1"}
        form = forms.parse_post(dumps(body), 10)
        self.assertEqual(
            (form.room_id, form.content, form.reply_to, form.client_msg_id), (3, "hi", 7, "c-1")
        )

    def test_ids_must_be_integers_in_range(self) -> None:
        for room_id in (0, -1, MAX_ID + 1, True, 1.5, "3", None):
            with self.assertRaises(InvalidRequest, msg=repr(room_id)):
                forms.parse_post(dumps({"room_id": room_id, "content": "x"}), 10)
        for reply_to in (0, MAX_ID + 1, False, "7"):
            with self.assertRaises(InvalidRequest, msg=repr(reply_to)):
                forms.parse_post(dumps({"room_id": 1, "content": "x", "reply_to": reply_to}), 10)
        self.assertEqual(
            forms.parse_post(dumps({"room_id": MAX_ID, "content": "x"}), 10).room_id, MAX_ID
        )

    def test_content_rules(self) -> None:
        with self.assertRaises(InvalidRequest):
            forms.parse_edit(dumps({"content": "   "}), 10)
        with self.assertRaises(ContentTooLong):
            forms.parse_edit(dumps({"content": "x" * 11}), 10)
        self.assertEqual(forms.parse_edit(dumps({"content": " new "}), 10), "new")

    def test_message_id_in_a_path(self) -> None:
        self.assertEqual(forms.parse_message_id("42"), 42)
        self.assertEqual(forms.parse_message_id("0042"), 42)
        self.assertEqual(forms.parse_message_id(str(MAX_ID)), MAX_ID)
        for bad in ("0", "-1", "x", "", "1.0", "\u0661", str(MAX_ID + 1), "9" * 5000):
            with self.assertRaises(InvalidRequest, msg=bad[:20]):
                forms.parse_message_id(bad)


class QueryTests(SynchronousTestCase):
    """``GET /api/events`` and ``GET /api/search`` parameters."""

    def test_events_defaults_and_bounds(self) -> None:
        query = forms.parse_events_query(args(roomId="2"))
        self.assertEqual((query.room_id, query.after, query.limit), (2, 0, 100))
        with self.assertRaises(InvalidRequest):
            forms.parse_events_query(args())
        with self.assertRaises(InvalidRequest):
            forms.parse_events_query(args(roomId="2", limit="501"))

    def test_search_words_are_kept_as_typed_and_unique(self) -> None:
        """The stores lower-case with their own function (İ, decomposed accents)."""
        query = forms.parse_search_query(args(q="Hello, hello WORLD! Hello"))
        self.assertEqual(query.words, ("Hello", "hello", "WORLD"))
        self.assertEqual(query.text, "Hello hello WORLD")
        self.assertEqual((query.room_id, query.before, query.limit), (None, None, 20))
        self.assertEqual(forms.parse_search_query(args(q="caf\u00e9")).words, ("caf\u00e9",))
        self.assertEqual(forms.parse_search_query(args(q="cafe\u0301")).words, ("cafe\u0301",))
        self.assertEqual(
            forms.parse_search_query(args(q="\u0130stanbul")).words, ("\u0130stanbul",)
        )

    def test_search_refusals(self) -> None:
        nine = " ".join(f"w{n}" for n in range(9))
        for bad in ("", "  ", "!!", "___", "x" * 201, nine, "a_b_c_d_e_f_g_h_i"):
            with self.assertRaises(InvalidRequest, msg=bad[:20]):
                forms.parse_search_query(args(q=bad))
        self.assertEqual(forms.MAX_SEARCH_WORDS, 8)
        with self.assertRaises(InvalidRequest):
            forms.parse_search_query({b"q": [b"\xff"]})


class ClientFrameTests(SynchronousTestCase):
    """The WebSocket frames that act on messages."""

    def test_message_with_a_reply(self) -> None:
        frame = parse_client_frame('{"content": "yes", "reply_to": 5}', 10)
        self.assertEqual((frame.kind, frame.content, frame.reply_to), (MESSAGE, "yes", 5))

    def test_edit_delete_react(self) -> None:
        edit = parse_client_frame(
            '{"type": "edit", "message_id": 4, "content": " b ", "client_msg_id": "e"}', 10
        )
        self.assertEqual(
            (edit.kind, edit.message_id, edit.content, edit.client_msg_id), (EDIT, 4, "b", "e")
        )
        delete = parse_client_frame('{"type": "delete", "message_id": 4}', 10)
        self.assertEqual((delete.kind, delete.message_id), (DELETE, 4))
        react = parse_client_frame('{"type": "react", "message_id": 4, "emoji": ":ok:"}', 10)
        self.assertEqual((react.kind, react.emoji, react.remove), (REACT, ":ok:", False))
        unreact = parse_client_frame(
            '{"type": "react", "message_id": 4, "emoji": ":ok:", "remove": true}', 10
        )
        self.assertTrue(unreact.remove)

    def test_refusals_echo_the_client_msg_id(self) -> None:
        cases = [
            ('{"type": "edit", "content": "x", "client_msg_id": "c"}', "invalid_request"),
            ('{"type": "edit", "message_id": 1, "client_msg_id": "c"}', "invalid_request"),
            (
                '{"type": "react", "message_id": 1, "emoji": "a b", "client_msg_id": "c"}',
                "invalid_request",
            ),
            (
                '{"type": "react", "message_id": 1, "emoji": "x", "remove": 1, '
                '"client_msg_id": "c"}',
                "invalid_request",
            ),
            ('{"type": "delete", "message_id": "1", "client_msg_id": "c"}', "invalid_request"),
            (
                '{"type": "edit", "message_id": 1, "content": "xxxxxxxxxxx", "client_msg_id": "c"}'
                "",
                "content_too_long",
            ),
            ('{"type": "shout", "client_msg_id": "c"}', "invalid_request"),
        ]
        for text, code in cases:
            with self.assertRaises(FrameError, msg=text) as caught:
                parse_client_frame(text, 10)
            error: ChatError = caught.exception
            self.assertEqual(error.to_json()["code"], code, text)
            self.assertEqual(error.to_json()["client_msg_id"], "c", text)
