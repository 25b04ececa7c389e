"""What the operator's commands on the service's database share: ``admin`` and ``rotate``.

Each reads ``DATABASE_URL`` (or ``--database-url``) exactly as ``twistd chat``
does (``config.py``), opens the store the way the service opens it
(``open_store`` and ``start()``: pending migrations and the start-up key
check included), does its work on the reactor, and always closes the store.
What goes wrong is one line on stderr (``NAME: error: ...``, with the
redacted URL of the database it happened on) and exit status 1, so a
script or an operator reads the same shape from every command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from chatservice.config import Config
from chatservice.errors import ChatError
from chatservice.keyring import KeyRing
from chatservice.store import IChatStore, UnsupportedStoreURL, open_store, redact_url

T = TypeVar("T")

DATABASE_URL_HELP = (
    "the store, as for twistd chat (default: the DATABASE_URL environment variable)"
)


def command_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser that takes ``--database-url`` as ``twistd chat`` does."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--database-url", help=DATABASE_URL_HELP)
    return parser


def one_line(error: Exception) -> str:
    """An error's message for the operator, its white space folded onto one line."""
    text = error.message if isinstance(error, ChatError) else str(error)
    return " ".join(text.split())


def say_error(name: str, text: str) -> None:
    """Print ``NAME: error: TEXT`` on stderr."""
    print(f"{name}: error: {text}", file=sys.stderr)


async def with_store(
    reactor: Any,
    config: Config,
    ring: KeyRing | None,
    work: Callable[[IChatStore], Awaitable[T]],
) -> T:
    """Open and start the configured store, run ``work`` on it, close it whatever happens."""
    store = open_store(config.database_url, reactor, ring)
    try:
        await store.start()
        return await work(store)
    finally:
        await store.close()


def run_command(
    name: str,
    database_url: str,
    command: Callable[[Any], Awaitable[object]],
    refusals: tuple[type[Exception], ...],
) -> int:
    """Run ``command(reactor)`` on the reactor until it is done; the exit status.

    ``ChatError``, ``RuntimeError`` and the command's own ``refusals`` are
    one line on stderr and status 1; anything else is a traceback, as a bug
    should be.
    """
    status: list[int] = []
    reported: tuple[type[Exception], ...] = (ChatError, RuntimeError, *refusals)

    async def guarded(reactor: Any) -> None:
        try:
            await command(reactor)
            status.append(0)
        except UnsupportedStoreURL as error:
            say_error(name, one_line(error))  # its message names the URL already
            status.append(1)
        except reported as error:
            say_error(name, f"{one_line(error)} ({redact_url(database_url)})")
            status.append(1)

    try:
        react(lambda reactor: Deferred.fromCoroutine(guarded(reactor)))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            return int(exit_.code) if isinstance(exit_.code, int) else 1
    return status[0] if status else 1
