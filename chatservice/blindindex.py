"""The blind index: search tokens that are keyed hashes of words, not the words.

With encryption at rest on, a message's text is sealed (``store.sealing``)
and the search index must not hold its words either. It holds instead,
for each distinct word of the text (``words.search_words``: lower-cased
runs of letters and digits), ``HMAC-SHA256(index key, word)`` truncated to
64 bits and spelt as 16 letters ``a``-``p`` (one per 4 bits). A token of
letters only is one plain word to both full-text engines (SQLite FTS5's
``unicode61``, PostgreSQL's ``simple`` parser: no number, no hyphen, no
scientific notation to split or reinterpret), so the existing FTS5 table
and ``tsvector`` column index tokens unchanged. A query looks up the
tokens of its words.

The index key is derived (HKDF-SHA256) from an encryption key of the ring,
one index key per key id, so the index needs no secret of its own and
rotating the encryption key rotates the index key too: rotation rewrites
each row's tokens with its sealed text (``store.sealing_queries``), and
while it runs a query asks for the tokens under every key of the ring (an
OR per word), so rows not yet rotated are still found. A stable index key
(derived from the first key ever used) would spare that rewrite but keep a
key the operator wanted retired alive forever, and a leaked old key would
keep unmasking new rows' words; so rotation rebuilds.

What it gives up, compared with the plaintext index: a word is found only
when the query holds the same word (after lower-casing), whole. No prefix
(``hel*``), no fuzzy or stemmed matching, no phrase or proximity (the
tokens of a message are stored sorted, so word order is not kept, nor how
often a word occurs), no ranking by frequency. What it still leaks to
someone holding the database without the key: which messages share a word,
and how many distinct words each has; frequency analysis over many
messages can guess common words. 64 bits keep accidental collisions of two
words' tokens out of reach for any real vocabulary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatservice.words import search_words

TOKEN_BYTES = 8
"""Bytes of the HMAC kept: 64 bits, 16 letters."""

CACHED_WORDS = 65536
"""Tokens remembered per index key: chat repeats its words, and a hit costs no hashing."""

_INFO = b"chatservice blind index v1"
_LETTERS = bytes(range(ord("a"), ord("a") + 16))
_NIBBLES = bytes.maketrans(b"0123456789abcdef", _LETTERS)
_BLOCK = 64  # SHA-256's block size, HMAC's pad length


class IndexKey:
    """One index key, derived from one encryption key, that turns words into tokens.

    HMAC-SHA256 (RFC 2104) with its two padded-key states hashed once and
    copied per word, which halves the cost of ``hmac.new`` per word; the
    tokens of recent words are cached. Safe to share between threads.
    """

    def __init__(self, encryption_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            encryption_key
        )
        padded = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
        self.token = lru_cache(maxsize=CACHED_WORDS)(self._token)

    def _token(self, word: str) -> str:
        """The token of one already-normalised word."""
        inner = self._inner.copy()
        inner.update(word.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TOKEN_BYTES].hex().encode("ascii").translate(_NIBBLES).decode()

    def index_text(self, text: str) -> str:
        """What the index column holds for ``text``: its words' tokens, sorted, space-separated."""
        return " ".join(sorted({self.token(word) for word in search_words(text)}))


def query_tokens(keys: Iterable[IndexKey], word: str) -> tuple[str, ...]:
    """The tokens one query word may be indexed under: one per index key.

    The word is lower-cased as ``search_words`` lower-cases the text.
    """
    normal = word.lower()
    return tuple(dict.fromkeys(key.token(normal) for key in keys))
