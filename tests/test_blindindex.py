"""The blind index: HMAC-SHA256 tokens of words, letters only, one key per encryption key."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from twisted.trial.unittest import SynchronousTestCase

from chatservice.blindindex import TOKEN_BYTES, IndexKey, query_tokens


def reference_token(encryption_key: bytes, word: str) -> str:
    """The token by the book: HKDF the key, HMAC-SHA256 the word, keep 8 bytes, nibbles a-p."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"chatservice blind index v1"
    ).derive(encryption_key)
    digest = hmac.new(key, word.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
    return "".join(chr(ord("a") + (byte >> 4)) + chr(ord("a") + (byte & 15)) for byte in digest)


class IndexKeyTests(SynchronousTestCase):
    """Tokens are HMAC-SHA256, truncated; the text's are distinct, sorted, order-free."""

    def test_tokens_are_hmac_sha256_truncated_to_64_bits(self) -> None:
        secret = os.urandom(32)
        key = IndexKey(secret)
        for word in ("hello", "straße", "日本語", "x"):
            self.assertEqual(key.token(word), reference_token(secret, word))
            self.assertRegex(key.token(word), r"^[a-p]{16}$")

    def test_index_text_holds_each_word_once_in_no_telling_order(self) -> None:
        key = IndexKey(os.urandom(32))
        text = key.index_text("Dog bites man; MAN bites dog.")
        self.assertEqual(text, key.index_text("man bites dog"))
        self.assertEqual(text.split(), sorted({key.token(w) for w in ("dog", "bites", "man")}))
        self.assertEqual(key.index_text("... !!"), "")

    def test_each_encryption_key_has_its_own_tokens(self) -> None:
        old, new = IndexKey(os.urandom(32)), IndexKey(os.urandom(32))
        self.assertNotEqual(old.token("hello"), new.token("hello"))
        self.assertEqual(
            query_tokens([new, old], "HeLLo"), (new.token("hello"), old.token("hello"))
        )
