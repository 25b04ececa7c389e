"""A scratch PostgreSQL schema for one benchmark run: its tables never meet another run's."""

from __future__ import annotations

import uuid
from collections.abc import Callable


def scratch_schema(dsn: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """Create a schema named ``prefix`` and a random suffix; return it and what drops it.

    The drop is returned rather than run by a context manager because the
    benchmarks drop it in their own cleanup lists, after the server stops.
    """
    import psycopg  # only the PostgreSQL runs need the driver

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as pg:
            pg.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return schema, drop
