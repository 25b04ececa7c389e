"""``id IN (...)`` lists of bound parameters, for reading a page's rows in one query.

A page of history needs the reactions and the replied-to messages of all its
messages: one ``IN`` query each instead of one query per message. The list
length is rounded up to a power of two (repeating the last value, which
changes nothing in an ``IN``), so the statement texts, which the dialect
caches, stay few whatever the page size; long lists are cut into chunks
that stay under SQLite's oldest limit of 999 bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

CHUNK = 512


def in_list(name: str, values: Sequence[int]) -> tuple[str, dict[str, object]]:
    """Return ``":name0, :name1, ..."`` and its parameters for a non-empty ``values``."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    size = 1
    while size < len(values):
        size *= 2
    padded = list(values) + [values[-1]] * (size - len(values))
    params: dict[str, object] = {f"{name}{i}": value for i, value in enumerate(padded)}
    return ", ".join(f":{name}{i}" for i in range(size)), params


def chunks(values: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    """Yield ``values`` in slices of at most ``size``, without duplicates."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]
