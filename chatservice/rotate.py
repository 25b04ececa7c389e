"""``python -m chatservice.rotate``: re-seal everything under the newest key, beside the service.

Rotating a key (see README, "Securing a deployment")::

    # 1. put the new key first in every process's ring and restart them:
    ENCRYPTION_KEY=k2:<new>,k1:<old>
    # 2. re-seal what the old key sealed (the service keeps serving):
    python -m chatservice.rotate
    # 3. drop k1 from the ring when the command says it is retired.

Run with ``ENCRYPTION_KEY`` set on a database that still holds plain text
(encryption turned on later), the same command seals those rows too.

The work is done in batches of messages (``--batch-size``), one short
transaction each under the writers' lock, so posting goes on between
them; each batch records how far it got in the database, so an
interrupted run (killed, the database restarted) picks up where it
stopped, and rows already under the newest key are skipped, so running
it twice does nothing twice. When every message is done, keys other than
the newest are retired (start-up stops asking for them), and the file
bodies are re-encrypted by file sharing's ``reencrypt_files`` when this
build has it (``FILES_HOOKS``, looked up at run time).

``DATABASE_URL`` and ``ENCRYPTION_KEY`` are read exactly as ``twistd
chat`` reads them (``config.py``), and the store is opened as the service
opens it, start-up key check included.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from chatservice.config import Config, ConfigError
from chatservice.keyring import KeyRing
from chatservice.store import IChatStore
from chatservice.store.sealing import ISealingStore
from chatservice.store_command import command_parser, one_line, run_command, say_error, with_store

DEFAULT_BATCH_SIZE = 500
FILES_HOOKS = (
    ("chatservice.file_rotation", "reencrypt_files"),
    ("chatservice.files", "reencrypt_files"),
)
"""Where file sharing's re-encryption may live, looked up at run time: it may not exist.

The first found is called with the ring and, by name, whichever of
``store``, ``database_url`` and ``files_dir`` it takes (``FilesContext``).
"""


@dataclass(frozen=True, slots=True)
class FilesContext:
    """What the files hook may ask for besides the ring."""

    store: IChatStore | None = None
    database_url: str = ""
    files_dir: str | None = None


class RotateError(Exception):
    """The rotation was refused or failed; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a run did."""

    resealed: int
    batches: int
    files: str


async def rotate(
    store: IChatStore,
    ring: KeyRing,
    report: Callable[[str], None],
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: IReactorTime | None = None,
    pause: float = 0.0,
    files: FilesContext | None = None,
) -> Rotation:
    """Re-seal every message of a started ``store`` under ``ring.current``, then the files.

    ``pause`` seconds (on ``clock``) between batches leave the database to
    the service on a busy server.
    """
    if not ISealingStore.providedBy(store):
        raise RotateError("this store cannot be rotated")
    resealed = batches = 0
    while True:
        step = await store.reseal_batch(batch_size)
        batches += 1
        resealed += step.resealed
        if step.done:
            if step.secrets:
                report(f"rotate: {step.secrets} webhook secrets re-sealed")
            break
        if batches % 20 == 0:
            report(f"rotate: {resealed} messages re-sealed, up to message {step.after_id}")
        if pause and clock is not None:
            await deferLater(clock, pause)
    retired = [key_id for key_id in ring.key_ids() if key_id != ring.current]
    report(
        f"rotate: {resealed} messages re-sealed under key {ring.current!r}"
        + (f"; key(s) {', '.join(map(repr, retired))} retired" if retired else "")
    )
    said = await reencrypt_files(ring, files or FilesContext(store))
    report(f"rotate: {said}")
    return Rotation(resealed, batches, said)


def files_hook() -> Callable[..., Any] | None:
    """File sharing's ``reencrypt_files``, if this build has it."""
    for module_name, name in FILES_HOOKS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        hook = getattr(module, name, None)
        if callable(hook):
            return hook  # type: ignore[no-any-return]
    return None


async def reencrypt_files(ring: KeyRing, context: FilesContext) -> str:
    """Call file sharing's re-encryption if this build has it; say what happened."""
    hook = files_hook()
    if hook is None:
        return "files: no reencrypt_files in this build; skipped"
    accepted = inspect.signature(hook).parameters
    offered = {"store": context.store, "database_url": context.database_url}
    offered["files_dir"] = context.files_dir
    result = hook(ring, **{name: value for name, value in offered.items() if name in accepted})
    if inspect.isawaitable(result) or isinstance(result, Deferred):
        result = await ensureDeferred(result)  # type: ignore[arg-type]
    return "files: re-encrypted" + ("" if result is None else f" ({result})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (0 done, 1 refused or failed)."""
    parser = command_parser(
        "python -m chatservice.rotate",
        "Re-seal every message, file and webhook secret under the first key of ENCRYPTION_KEY.",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between batches")
    args = parser.parse_args(argv)
    try:
        config = Config.from_sources({"database-url": args.database_url})
        ring = config.encryption
        if ring is None:
            raise RotateError("ENCRYPTION_KEY is not set: there is no key to rotate to")
        if config.database_url.startswith("memory:"):
            raise RotateError("DATABASE_URL is memory:, which keeps nothing at rest to rotate")
        if not 1 <= args.batch_size <= 100_000:
            raise RotateError("--batch-size: between 1 and 100000")
    except (ConfigError, RotateError) as error:
        say_error("rotate", one_line(error))
        return 1
    pause = max(0.0, args.pause)

    async def command(reactor: Any) -> None:
        async def work(store: IChatStore) -> Rotation:
            files = FilesContext(store, config.database_url, config.files_dir)
            return await rotate(store, ring, print, args.batch_size, reactor, pause, files)

        await with_store(reactor, config, ring, work)

    return run_command("rotate", config.database_url, command, (RotateError,))


if __name__ == "__main__":
    sys.exit(main())
