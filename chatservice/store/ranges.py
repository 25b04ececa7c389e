"""The signed 64-bit id range of the SQL stores, and what ids outside it mean.

Ids are ``BIGINT`` in PostgreSQL and 64-bit ``INTEGER`` in SQLite, whose
driver raises ``OverflowError`` when asked to bind anything wider. The edge
refuses such numbers from clients (401 for a token, 400 for a parameter),
but the store keeps the contract on its own: an id that cannot exist is
simply not found, and a cursor past the range compares like the number it
is, exactly as ``MemoryStore``'s Python integers do.
"""

from __future__ import annotations

from dataclasses import dataclass

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def fits(value: int | None) -> bool:
    """Whether ``value`` (None counts as fitting) can be bound as a 64-bit integer."""
    return value is None or INT64_MIN <= value <= INT64_MAX


@dataclass(frozen=True, slots=True)
class PageBounds:
    """History cursors brought into the 64-bit range, or ``empty`` if no id can match."""

    before: int | None
    after: int | None
    empty: bool = False


NO_PAGE = PageBounds(None, None, empty=True)


def page_bounds(room_id: int, before: int | None, after: int | None) -> PageBounds:
    """Return cursors that select the same messages and fit in 64 bits.

    Every stored id lies in ``INT64_MIN..INT64_MAX``, so ``id < before`` with
    a larger ``before`` holds for all of them (no cursor) and with a smaller
    one for none (an empty page); ``id > after`` likewise.
    """
    if not fits(room_id):
        return NO_PAGE
    if after is not None:
        if after >= INT64_MAX:
            return NO_PAGE
        return PageBounds(None, max(after, INT64_MIN))
    if before is not None:
        if before <= INT64_MIN:
            return NO_PAGE
        if before > INT64_MAX:
            before = None
    return PageBounds(before, None)
