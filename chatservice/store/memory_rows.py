"""MessageRows: one room's messages for ``MemoryStore``, kept where the collector never looks.

Why: CPython's cycle collector walks every *tracked* object on each full
(generation-2) collection, and a frozen dataclass instance is always
tracked. A ``memory:`` store that kept each message as a ``Message`` added
one tracked object per message, so the reactor thread's full collections
grew with the history: 43-73 ms pauses a few hundred thousand messages in,
straight into delivery latency (bench/RESULTS.md, S2 on ``memory:``).

A tuple of strings, numbers, ``None`` and other such tuples is untracked by
the collector the first time it looks at it, and never walked again. So a
plain message (no reply preview, reactions or attachments: nearly all of
them) is kept as the tuple of its fields and rebuilt on read; the others
stay ``Message`` objects. Reads pay one constructor call per message
returned, which the store's pages and counts bound: a count starts where
it starts (``iter_from``), a scan for files reads only the whole objects
(``with_objects``).

Untracked rows in one long list still cost a full collection a visit
each (the list is walked element by element, a cache miss apiece: 11-13
ms at 200,000-400,000 messages, ``bench/memory_gc.py``), so full chunks of
``CHUNK`` rows are sealed into tuples, which the collector untracks too:
it then follows a pointer per chunk and the open tail's rows (0.6-1.5 ms).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, overload

from chatservice.models import Message

_Row = tuple[Any, ...]


def _row(message: Message) -> _Row | Message:
    """The message as the tuple of its fields (``Message``'s order) if none is tracked."""
    if message.reply_preview is not None or message.reactions or message.attachments:
        return message
    return message.fields_with(None, (), ())


def _message(stored: _Row | Message) -> Message:
    if type(stored) is tuple:
        return Message(*stored)
    assert isinstance(stored, Message)
    return stored


# Rows per sealed chunk: a full collection follows one pointer per chunk
# instead of one per row, and an edit copies at most this many pointers.
CHUNK = 1024


class MessageRows:
    """A room's messages, oldest first: a list of ``Message`` to its users, compact inside.

    Rows live in full chunks (tuples of ``chunk`` rows) and a tail list of
    the newest. The collector never walks a chunk of untracked rows (the
    tuple is untracked too), where it would walk a list of them element by
    element on every full collection.
    """

    __slots__ = ("_chunk", "_chunks", "_tail")

    def __init__(self, chunk: int = CHUNK) -> None:
        self._chunk = chunk
        self._chunks: list[tuple[_Row | Message, ...]] = []
        self._tail: list[_Row | Message] = []

    def __len__(self) -> int:
        return len(self._chunks) * self._chunk + len(self._tail)

    def _locate(self, index: int) -> tuple[int, int]:
        """Where ``index`` (negative from the end, as in a list) is: its chunk and offset.

        The chunk is ``len(self._chunks)`` for a row of the open tail.
        Raises ``IndexError`` as a list would.
        """
        at = index + len(self) if index < 0 else index
        if not 0 <= at < len(self):
            raise IndexError("message index out of range")
        return divmod(at, self._chunk)

    def _stored(self, index: int) -> _Row | Message:
        chunk, offset = self._locate(index)
        if chunk < len(self._chunks):
            return self._chunks[chunk][offset]
        return self._tail[offset]

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [_message(self._stored(at)) for at in range(*index.indices(len(self)))]
        return _message(self._stored(index))

    def __setitem__(self, index: int, message: Message) -> None:
        chunk, offset = self._locate(index)
        if chunk < len(self._chunks):
            rows = list(self._chunks[chunk])
            rows[offset] = _row(message)
            self._chunks[chunk] = tuple(rows)
        else:
            self._tail[offset] = _row(message)

    def _all(self) -> Iterator[_Row | Message]:
        return itertools.chain(itertools.chain.from_iterable(self._chunks), self._tail)

    def __iter__(self) -> Iterator[Message]:
        return map(_message, self._all())

    def __reversed__(self) -> Iterator[Message]:
        newest_first = itertools.chain(
            reversed(self._tail),
            itertools.chain.from_iterable(reversed(chunk) for chunk in reversed(self._chunks)),
        )
        return map(_message, newest_first)

    def iter_from(self, start: int) -> Iterator[Message]:
        """The messages from index ``start`` on; those before it are not rebuilt."""
        chunk, offset = divmod(max(start, 0), self._chunk)
        if chunk >= len(self._chunks):
            rest: Iterator[_Row | Message] = itertools.islice(
                self._tail, start - len(self._chunks) * self._chunk, None
            )
        else:
            rest = itertools.chain(
                itertools.islice(self._chunks[chunk], offset, None),
                itertools.chain.from_iterable(self._chunks[chunk + 1 :]),
                self._tail,
            )
        return map(_message, rest)

    def with_objects(self) -> Iterator[Message]:
        """Only the messages kept whole: those with a reply preview, reactions or files.

        For scans that look for files (``memory_uploads``): a tuple row has none.
        """
        return (stored for stored in self._all() if isinstance(stored, Message))

    def append(self, message: Message) -> None:
        """Add the room's newest message."""
        self._tail.append(_row(message))
        if len(self._tail) == self._chunk:
            self._chunks.append(tuple(self._tail))
            self._tail = []

    def pop(self) -> Message:
        """Take the newest message off (a batch that failed part-way is undone)."""
        if not self._tail and self._chunks:
            self._tail = list(self._chunks.pop())
        return _message(self._tail.pop())
