"""What the tests of ``copystore`` share: a SQLite file to copy from, a schema to copy to.

Each test fills its own SQLite file through ``SQLStore`` and copies it into
the fresh schema ``PostgreSQLDatabase`` made for it, reached through the
``options`` of the target URL (as an operator would pass ``search_path``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tests.test_store_postgresql import DSN, SKIP, PostgreSQLDatabase


class CopyCase(PostgreSQLDatabase):
    """A SQLite file of the test's own (``sqlite_path``) and its schema as the ``target``."""

    skip = SKIP
    timeout = 60

    def setUp(self) -> None:
        super().setUp()
        self.sqlite_path = str(Path(self.mktemp()).absolute())

    @property
    def target(self) -> str:
        """This test's schema as a libpq URL (``options`` in the query string)."""
        separator = "&" if "?" in DSN else "?"
        return f"{DSN}{separator}options={quote(self.search_path)}"
