"""``python -m chatservice.files gc``: collect files nothing uses any more.

Uploads whose messages were all deleted (or erased), uploads never attached
to a message within the grace period, and then the bytes of every blob no
upload uses. Safe while the service runs (each row goes in its own
transaction, only if still unused). The service also does this hourly.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.internet.threads import deferToThread

from chatservice.config import Config, ConfigError
from chatservice.errors import ChatError
from chatservice.files import DEFAULT_GRACE_SECONDS, collect
from chatservice.files_setup import open_blobs
from chatservice.keyring import KeyRingError, parse_key_ring
from chatservice.store import open_store, redact_url
from chatservice.store.upload_interface import IUploadStore


async def _gc(reactor: Any, config: Config, grace_hours: float, key: str | None) -> str:
    store = open_store(config.database_url, reactor)
    await store.start()
    try:
        place = open_blobs(
            config.database_url, config.files_dir, store, deferToThread, parse_key_ring(key)
        )
        cutoff = int((time.time() - grace_hours * 3600) * 1000)
        uploads, blobs = await collect(IUploadStore(store), place.blobs, cutoff)
        return f"collected {uploads} uploads and {blobs} files"
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (0 done, 1 failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m chatservice.files",
        description="Maintain the service's uploaded files.",
    )
    parser.add_argument("--database-url", help="the store (default: DATABASE_URL)")
    parser.add_argument("--files-dir", help="the files directory (default: FILES_DIR)")
    commands = parser.add_subparsers(dest="action", required=True)
    gc = commands.add_parser("gc", help="collect unused uploads and files")
    gc.add_argument(
        "--grace-hours",
        type=float,
        default=DEFAULT_GRACE_SECONDS / 3600,
        help="keep uploads never attached for this long (default 24)",
    )
    args = parser.parse_args(argv)
    try:
        config = Config.from_sources(
            {"database-url": args.database_url, "files-dir": args.files_dir}
        )
        if config.database_url.startswith("memory:"):
            raise ConfigError("DATABASE_URL: memory: keeps no files to collect")
        import os

        key = os.environ.get("ENCRYPTION_KEY")
        parse_key_ring(key)
    except (ConfigError, KeyRingError) as error:
        print(f"files: error: {error}", file=sys.stderr)
        return 1
    results: list[str] = []

    async def command(reactor: Any) -> None:
        results.append(await _gc(reactor, config, args.grace_hours, key))

    try:
        react(lambda reactor: Deferred.fromCoroutine(command(reactor)))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            where = redact_url(config.database_url)
            print(f"files: error: the collection failed ({where})", file=sys.stderr)
            return 1
    except ChatError as error:
        print(f"files: error: {error.message}", file=sys.stderr)
        return 1
    print(results[0] if results else "nothing done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
