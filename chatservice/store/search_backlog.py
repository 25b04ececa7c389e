"""SQLite's search index trails the newest messages and catches up in bulk.

FTS5 writes a new segment in every transaction that adds to its index: on
S2's load (one commit of about four messages every 2 ms) that was six of
the twelve pages each commit wrote to the write-ahead log, and about a
third of the store thread's CPU. So new messages are not indexed in the
commit that stores them; the commit that takes the backlog past
``BACKLOG_IDS`` ids indexes all of it in one statement, and a search
indexes whatever waits before it reads, so it never misses a message
(unless the store cannot write: then it answers from the index as it is,
without the few newest messages, rather than not at all).

What is indexed is kept in the database, not in memory, so several
processes on one file agree (schema ``0012_search_backlog.sqlite.sql``):
every message with an id up to ``search_backlog.indexed_upto`` is in the
index, every later one is not. The edit and delete triggers leave a row
past the mark alone, and it is indexed with the text it has by then. A
row past the mark that something else indexed (a full 'rebuild', a
process of the previous version still running on the same file) is not
indexed again, which would corrupt the index; such a process's edits of
its rows would still leave their old words behind, so every process on a
file is upgraded together (README, upgrading).
PostgreSQL computes its search vector per row (its dialect has no
backlog statements), so there every function here does nothing.
"""

from __future__ import annotations

from chatservice.store.database import Txn

BACKLOG_IDS = 64
"""How far (in ids of the messages sequence) the index may trail before a commit catches up.

At S2's 2,000 messages/s that is one catch-up every 30 ms or so; one of
64 messages adds about a millisecond to the commit that runs it.
"""

_INDEXED_UPTO = "SELECT indexed_upto FROM search_backlog"
_NEWEST = "SELECT MAX(id) FROM messages"


def index_if_due(txn: Txn, newest_id: int) -> None:
    """Index the backlog if the messages up to ``newest_id`` put it ``BACKLOG_IDS`` behind.

    Called by ``add_messages`` with its batch's last new id, in the batch's
    own transaction, under the writers' lock.
    """
    if txn.dialect.index_backlog is None:
        return
    upto = _indexed_upto(txn)
    if newest_id - upto >= BACKLOG_IDS:
        _index(txn, upto, newest_id)


def waiting(txn: Txn) -> bool:
    """Whether any message waits to be indexed (a read: no writers' lock)."""
    if txn.dialect.index_backlog is None:
        return False
    return _newest(txn) > _indexed_upto(txn)


def index_backlog(txn: Txn) -> int:
    """Index every message that waits; returns how many ids the index moved on.

    A write transaction of its own: ``SQLStore.search_messages`` runs it
    before a search when ``waiting`` says so.
    """
    if txn.dialect.index_backlog is None:
        return 0
    upto = _indexed_upto(txn)
    newest = _newest(txn)
    if newest <= upto:
        return 0
    _index(txn, upto, newest)
    return newest - upto


def _indexed_upto(txn: Txn) -> int:
    row = txn.query_one(_INDEXED_UPTO)
    assert row is not None, "migration 0012 inserts the one row"
    return int(row[0])


def _newest(txn: Txn) -> int:
    """The newest message's id, or 0 when there is none."""
    row = txn.query_one(_NEWEST)
    return int(row[0]) if row is not None and row[0] is not None else 0


def _index(txn: Txn, upto: int, newest: int) -> None:
    """Add the messages after ``upto`` up to ``newest`` to the index, and move the mark."""
    statements = txn.dialect.index_backlog
    assert statements is not None
    index, advance = statements
    txn.execute(index, {"upto": upto, "newest": newest})
    txn.execute(advance, {"newest": newest})
