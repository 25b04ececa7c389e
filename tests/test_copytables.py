"""``copytables`` names every table and column a migrated database holds.

A migration that adds a table or a column must either be copied by
``python -m chatservice.copystore`` or be listed in ``copytables`` as not
copied, with the reason; otherwise moving to PostgreSQL would silently lose
it. These tests compare the specs with a freshly migrated SQLite database.
"""

from __future__ import annotations

import contextlib
import sqlite3

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from chatservice.copytables import NOT_COPIED, SEQUENCES, TABLES
from chatservice.store.sql import SQLStore


class CopyTablesTests(TestCase):
    """The copier's table specs against the newest schema."""

    async def schema(self) -> dict[str, set[str]]:
        """Every table of a freshly migrated SQLite file and its columns."""
        path = self.mktemp()
        store = SQLStore.sqlite(path, reactor)
        await store.start()
        await store.close()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            names = [
                str(row[0])
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return {
                name: {str(row[1]) for row in conn.execute(f"PRAGMA table_info('{name}')")}
                for name in names
            }

    async def test_every_table_is_copied_or_listed_as_not_copied(self) -> None:
        """A new table must be added to TABLES, or to NOT_COPIED with its reason."""
        schema = await self.schema()
        copied = {table.name for table in TABLES}
        self.assertEqual(copied & set(NOT_COPIED), set())
        self.assertEqual(
            set(schema) - copied - set(NOT_COPIED),
            set(),
            "tables copystore neither copies nor lists in copytables.NOT_COPIED",
        )
        self.assertEqual(copied - set(schema), set(), "copied tables the schema lacks")
        self.assertTrue(all(reason.strip() for reason in NOT_COPIED.values()))

    async def test_every_column_is_copied_or_listed_as_not_copied(self) -> None:
        """A new column must be in its table's columns, or in its not_copied with a reason."""
        schema = await self.schema()
        for table in TABLES:
            named = set(table.columns) | set(table.not_copied)
            self.assertEqual(len(table.columns), len(set(table.columns)), table.name)
            self.assertEqual(set(table.columns) & set(table.not_copied), set(), table.name)
            self.assertEqual(schema[table.name], named, table.name)
            self.assertTrue(all(reason.strip() for reason in table.not_copied.values()))

    def test_sequences_name_copied_tables(self) -> None:
        """Every id sequence moved on after the copy belongs to copied tables."""
        copied = {table.name for table in TABLES}
        for name, numbered in SEQUENCES.items():
            self.assertLessEqual({name, *numbered}, copied)
