"""What a word is, for search: one rule for the request's check and every store.

Sans-I/O and dependency-free, so the edge (``message_forms``) counts the
words of a query exactly as the stores will match them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Letters and digits (``\w`` without the underscore) and the combining
# diacritics U+0300..U+036F, which FTS5 (remove_diacritics 0) and
# PostgreSQL's parser keep inside a word: a decomposed "e\u0301" is part of
# its word everywhere, not a separator. Known differences left: PostgreSQL
# splits at superscript and other non-decimal digits (``x²``), and other
# combining marks split words on SQLite only.
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")


def search_words(text: str) -> tuple[str, ...]:
    """The distinct words of ``text``, lower-cased, in order of first appearance.

    ``str.lower`` rather than ``casefold``: the databases lower-case letter
    by letter (``Straße`` stays ``straße``), and the memory store must find
    what they find.
    """
    return tuple(dict.fromkeys(word.lower() for word in _WORD.findall(text)))


def query_words(text: str) -> tuple[str, ...]:
    """The distinct words of ``text`` as typed, for a database to lower-case.

    SQLite and PostgreSQL fold the query with the same function as the
    content, which ``str.lower`` does not always equal (``İ`` becomes
    ``i`` plus a combining dot in Python, stays ``İ`` in FTS5).
    """
    return tuple(dict.fromkeys(_WORD.findall(text)))


def matches(words: Sequence[str], content: str) -> bool:
    """Whether ``content`` holds every one of ``words`` (from ``search_words``)."""
    return set(words).issubset(search_words(content))
