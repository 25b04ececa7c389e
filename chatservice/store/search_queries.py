"""Full-text search: what a word is, and the SQL that finds messages by their words.

Every backend has to find the same messages for the same query, so the
word rule lives once, in ``chatservice.words``: a word is a run of letters and digits (the
underscore separates, as it does for SQLite's ``unicode61`` tokenizer and
PostgreSQL's parser), compared in lower case, diacritics kept. The SQL
stores index the same rule: SQLite with an FTS5 table over
``messages.content`` (``unicode61 remove_diacritics 0``; it also indexes
``room_id``, so a room-filtered search need not read other rooms'
matches), PostgreSQL with a generated ``search_vector`` column
(``simple`` config, ASCII punctuation turned into spaces first so
``example.com`` or ``3.14`` are split like elsewhere, not kept as one
host or number token) under a GIN index; see
``schema/0003_search.*.sql``. ``MemoryStore`` scans with ``matches``.

The query is never handed to a search syntax: its words are extracted in
Python and each is quoted (FTS5) or joined with spaces for
``plainto_tsquery`` (PostgreSQL), so quotes, ``*``, ``NEAR``, ``-`` or
``:`` in what a user typed are only separators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatservice.models import Message
from chatservice.store.database import Txn
from chatservice.store.message_queries import messages_by_ids
from chatservice.store.ranges import INT64_MAX, INT64_MIN, fits
from chatservice.store.sealing import PLAINTEXT, Sealing
from chatservice.words import query_words


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search brought into the 64-bit range, with at least one word and one possible room."""

    words: tuple[str, ...]
    room_ids: tuple[int, ...] | None
    before: int | None
    limit: int
    terms: tuple[tuple[str, ...], ...] = ()
    """Per word, what the index may hold for it when encryption is on (``Sealing.search_terms``):
    the word, then its blind-index tokens. Empty: the words themselves."""


def search_request(
    query: str,
    room_ids: Sequence[int] | None,
    before: int | None,
    limit: int,
    sealing: Sealing = PLAINTEXT,
) -> SearchRequest | None:
    """Return the request the SQL runs, or None when no message can match.

    Like ``ranges.page_bounds``: a room id past 64 bits names no room, a
    ``before`` past the top of the range is no cursor and one at or below
    the bottom leaves nothing, so the driver never sees an unbindable number.
    """
    words = query_words(query)
    if not words or limit <= 0:
        return None
    rooms = None if room_ids is None else tuple(dict.fromkeys(r for r in room_ids if fits(r)))
    if rooms is not None and not rooms:
        return None
    if before is not None:
        if before <= INT64_MIN:
            return None
        if before > INT64_MAX:
            before = None
    terms = sealing.search_terms(words) if sealing.enabled else ()
    return SearchRequest(words, rooms, before, min(limit, INT64_MAX), terms)


def search_messages(txn: Txn, request: SearchRequest) -> list[Message]:
    """Return the matching messages in their current state, newest first.

    The index query selects ids only; ``messages_by_ids`` reads the rows as
    history does, so a found message is the same object history shows.
    """
    params: dict[str, object] = {"limit": request.limit}
    if request.before is not None:
        params["before"] = request.before
    for index, room_id in enumerate(request.room_ids or ()):
        params[f"room_{index}"] = room_id
    if txn.dialect.name == "sqlite":
        ids = sqlite_search_ids(txn, request, params)
    else:
        if request.terms:
            for index, (word, *tokens) in enumerate(request.terms):
                params[f"word_{index}"] = word
                params[f"tokens_{index}"] = " | ".join(tokens)
        else:
            params["words"] = " ".join(request.words)
        sql = postgresql_search_sql(
            request.before is not None, len(request.room_ids or ()), len(request.terms)
        )
        ids = [int(row[0]) for row in txn.query(sql, params)]
    return messages_by_ids(txn, ids) if ids else []


PROBE_ROWS = 200
"""How many matches of its words a room-filtered SQLite search reads before FTS5 gets the rooms."""


def sqlite_search_ids(txn: Txn, request: SearchRequest, params: dict[str, object]) -> list[int]:
    """The ids of a search on SQLite: the words' matches first, then the rooms' if need be.

    Asking FTS5 for the rooms with the words (``fts5_query``) makes it walk
    the rooms' token lists too, which costs up to a whole large room when
    the words are not rare (10 times slower than filtering afterwards for
    two middling words in a room of 1,000,000). Filtering afterwards costs
    every match in the other rooms when the words are frequent there. So
    up to ``PROBE_ROWS`` matches of the words alone are read newest first
    and filtered, stopping at a full page; only if they fill no page and
    more remain does FTS5 take the rooms, from where the probe stopped.
    Either way the cost is bounded by the probe plus the rooms' own
    matches, and a search of frequent words in one room costs what it did.
    """
    rooms = len(request.room_ids or ())
    before = request.before is not None
    words: Sequence[Sequence[str]] = request.terms or [(word,) for word in request.words]
    params["match"] = fts5_query(words)
    if not rooms:
        return [int(row[0]) for row in txn.query(sqlite_search_sql(before, 0), params)]
    params["probe"] = PROBE_ROWS
    ids: list[int] = []
    read = 0
    for message_id, wanted in txn.rows(sqlite_probe_sql(before, rooms), params):
        read += 1
        if wanted:
            ids.append(int(message_id))
            if len(ids) == request.limit:
                return ids
        params["before"] = message_id
    if read < PROBE_ROWS:
        return ids
    params["match"] = fts5_query(words, request.room_ids)
    params["limit"] = request.limit - len(ids)
    return ids + [int(row[0]) for row in txn.query(sqlite_search_sql(True, rooms), params)]


def fts5_query(words: Sequence[Sequence[str]], room_ids: Sequence[int] | None = None) -> str:
    """An FTS5 query that needs every word in ``content`` and, if given, one of the rooms.

    Each word is given with its alternatives (``SearchRequest.terms``: the
    word or its blind-index tokens), any of which will do. Each is a quoted
    string, so none is syntax, filtered to the ``content`` column: the index
    also holds ``room_id``, whose number must not be found as a word.
    Adjacent terms are an implicit AND. Words hold no quotes, but any would
    be doubled, which is FTS5's escape.

    The rooms are the index's ``room_id`` tokens, filtered to that column so
    a number in a message's text never passes for its room: FTS5 then walks
    the intersection of the words' and the rooms' lists, so a room-filtered
    search costs at most the rooms' own messages, never the other rooms'
    matches (see ``sqlite_search_ids`` for when that is worth it). A room id
    is tokenized without its sign; the SQL filter on ``m.room_id`` stays,
    exact for any id.
    """
    # A parenthesised alternative is not a phrase: FTS5 wants AND spelt out after it.
    joiner = " AND " if any(len(terms) > 1 for terms in words) else " "
    query = joiner.join("content : " + _any_of(terms) for terms in words)
    if room_ids:
        rooms = " OR ".join(f'"{abs(room_id)}"' for room_id in room_ids)
        query += f" AND room_id : ({rooms})"
    return query


def _any_of(terms: Sequence[str]) -> str:
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"


def _room_filter(column: str, rooms: int) -> str:
    if not rooms:
        return ""
    return f" AND {column} IN ({', '.join(f':room_{i}' for i in range(rooms))})"


def sqlite_search_sql(before: bool, rooms: int) -> str:
    """The SQLite query: walk the FTS5 matches of the words and rooms, newest first.

    ``CROSS JOIN`` fixes the FTS5 table as the outer loop (SQLite never
    reorders a CROSS JOIN), and FTS5 itself delivers its matches in
    ``rowid DESC`` order and applies ``rowid < :before``, so the query stops
    after ``limit`` rows instead of collecting and sorting every match of a
    frequent word; each match costs one primary-key lookup in ``messages``.
    With rooms it runs after ``sqlite_probe_sql`` and the rooms are in the
    match (``fts5_query``), so FTS5 hands out only their messages; the
    ``m.room_id`` filter repeats them exactly.
    """
    cursor = " AND messages_fts.rowid < :before" if before else ""
    return (
        "SELECT m.id FROM messages_fts CROSS JOIN messages AS m ON m.id = messages_fts.rowid"
        f" WHERE messages_fts MATCH :match{cursor}{_room_filter('m.room_id', rooms)}"
        " AND NOT m.deleted ORDER BY messages_fts.rowid DESC LIMIT :limit"
    )


def sqlite_probe_sql(before: bool, rooms: int) -> str:
    """The newest ``:probe`` matches of the words in any room, each with whether it is wanted.

    Every row comes back, wanted or not, so that a probe that read all
    ``:probe`` rows is told from one that ran out of matches; FTS5 hands
    them out newest first, so the reader stops as soon as a page is full.
    """
    cursor = " AND messages_fts.rowid < :before" if before else ""
    wanted = _room_filter("m.room_id", rooms).removeprefix(" AND ")
    return (
        f"SELECT m.id, {wanted} AND NOT m.deleted"
        " FROM messages_fts CROSS JOIN messages AS m ON m.id = messages_fts.rowid"
        f" WHERE messages_fts MATCH :match{cursor}"
        " ORDER BY messages_fts.rowid DESC LIMIT :probe"
    )


def postgresql_search_sql(before: bool, rooms: int, terms: int = 0) -> str:
    """The PostgreSQL query over the GIN-indexed ``search_vector``, newest first.

    ``plainto_tsquery`` ANDs the words and reads no operators. With
    encryption on (``terms`` words), each word is ORed with its blind-index
    tokens, which are letters only and so safe in ``to_tsquery``. The planner
    picks between the GIN index (rare words: fetch the few matches, sort)
    and the ``(room_id, id)`` index backwards (frequent words: the first
    ``limit`` rows that match come soon), from the column's statistics.
    """
    cursor = " AND id < :before" if before else ""
    query = "plainto_tsquery('simple', :words)"
    if terms:
        query = " && ".join(
            f"(plainto_tsquery('simple', :word_{i}) || to_tsquery('simple', :tokens_{i}))"
            for i in range(terms)
        )
    return (
        "SELECT id FROM messages"
        f" WHERE search_vector @@ ({query})"
        f"{cursor}{_room_filter('room_id', rooms)}"
        " AND NOT deleted ORDER BY id DESC LIMIT :limit"
    )
