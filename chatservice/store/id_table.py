"""IdTable: a value per message id, in a list, because a big dict's resize stalls the reactor.

Why: a Python dict that outgrows its table copies all of it in the one
insert that crosses the limit. Timed alone on the benchmark VM, that insert
took 6 ms at 87,381 entries and 11 ms at 174,762. ``MemoryTimeline`` kept
two dicts with an entry per message (where it is, its latest event), which
cross those limits together: on ``memory:`` the reactor thread stalled for
their sum every time the history doubled, and S2's tail grew with the
store (bench/RESULTS.md). A list indexed by id grows by ``realloc`` of
8 bytes a slot, with no rehash. The ids of the messages sequence are dense
(only events take the ids in between), so the holes are few.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class IdTable(Generic[V]):
    """A mapping from positive ids, assigned in increasing order, to values (never ``None``)."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: list[V | None] = [None]  # id 0 is never assigned

    def get(self, key: int) -> V | None:
        """The value of ``key``, or None; any int may be asked (a client names ids)."""
        values = self._values
        if 0 < key < len(values):
            return values[key]
        return None

    def __getitem__(self, key: int) -> V:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: int, value: V) -> None:
        """Set ``key``, an id the store assigned (so at most a few past the largest yet)."""
        if key <= 0:
            raise KeyError(key)
        values = self._values
        missing = key + 1 - len(values)
        if missing > 0:
            values.extend([None] * missing)
        values[key] = value

    def __delitem__(self, key: int) -> None:
        if self.get(key) is None:
            raise KeyError(key)
        self._values[key] = None
