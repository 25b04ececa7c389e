"""IdTable: the memory store's per-message index by id (``store/id_table.py``)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chatservice.store.id_table import IdTable


class IdTableTests(SynchronousTestCase):
    """A mapping from assigned ids; any id may be looked up, only assigned ones set."""

    def test_set_get_and_holes(self) -> None:
        """Ids set in increasing order with gaps: each reads back, a gap is None."""
        table: IdTable[str] = IdTable()
        table[1] = "one"
        table[4] = "four"
        self.assertEqual([table.get(n) for n in range(6)], [None, "one", None, None, "four", None])
        self.assertEqual(table[4], "four")
        table[1] = "uno"
        self.assertEqual(table[1], "uno")

    def test_any_id_a_client_names_is_just_missing(self) -> None:
        """Zero, negative, huge and past-the-end ids read as missing; none grows the table."""
        table: IdTable[str] = IdTable()
        table[2] = "two"
        for key in (0, -1, -(2**70), 3, 2**63, 2**70):
            self.assertIsNone(table.get(key), key)
            self.assertRaises(KeyError, table.__getitem__, key)
        self.assertEqual(len(table._values), 3)

    def test_delete(self) -> None:
        """A deleted id reads as missing; deleting it again, or a missing one, is a KeyError."""
        table: IdTable[int] = IdTable()
        table[1] = 10
        del table[1]
        self.assertIsNone(table.get(1))
        self.assertRaises(KeyError, table.__delitem__, 1)
        self.assertRaises(KeyError, table.__delitem__, 99)

    def test_only_positive_ids_are_set(self) -> None:
        """The store assigns ids from 1; setting 0 or a negative id is refused, not wrapped."""
        table: IdTable[int] = IdTable()
        self.assertRaises(KeyError, table.__setitem__, 0, 1)
        self.assertRaises(KeyError, table.__setitem__, -1, 1)
        self.assertIsNone(table.get(-1))
