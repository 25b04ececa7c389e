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


class MessageRows:
    """A room's messages, oldest first: a list of ``Message`` to its users, compact inside."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: list[_Row | Message] = []

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [_message(stored) for stored in self._rows[index]]
        return _message(self._rows[index])

    def __setitem__(self, index: int, message: Message) -> None:
        self._rows[index] = _row(message)

    def __iter__(self) -> Iterator[Message]:
        return map(_message, self._rows)

    def __reversed__(self) -> Iterator[Message]:
        return map(_message, reversed(self._rows))

    def iter_from(self, start: int) -> Iterator[Message]:
        """The messages from index ``start`` on; those before it are not rebuilt."""
        return map(_message, itertools.islice(self._rows, start, None))

    def with_objects(self) -> Iterator[Message]:
        """Only the messages kept whole: those with a reply preview, reactions or files.

        For scans that look for files (``memory_uploads``): a tuple row has none.
        """
        return (stored for stored in self._rows if isinstance(stored, Message))

    def append(self, message: Message) -> None:
        """Add the room's newest message."""
        self._rows.append(_row(message))

    def pop(self) -> Message:
        """Take the newest message off (a batch that failed part-way is undone)."""
        return _message(self._rows.pop())
