"""``python -m chatservice.admin``: give or take the server admin right, on the service's database.

The first admin cannot be made through the API (someone would have to be
an admin already), so this command does it on the store the service is
configured with::

    python -m chatservice.admin grant alice     # alice becomes a server admin
    python -m chatservice.admin revoke alice    # and stops being one
    python -m chatservice.admin list            # who is one

``DATABASE_URL`` (or ``--database-url``) is read exactly as ``twistd chat``
reads it (``config.py``), and the store is opened the way the service opens
it (``open_store``, which applies pending migrations), so the command works
on a fresh install and beside a running service: the admin right is read
from the database at each admin request, so it counts at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from chatservice.config import Config, ConfigError
from chatservice.errors import ChatError, NotFound
from chatservice.store import IChatStore, UnsupportedStoreURL, open_store, redact_url

MEMORY_REFUSAL = (
    "DATABASE_URL is memory:, which no other process can see; "
    "point DATABASE_URL (or --database-url) at the service's database"
)


class AdminCommandError(Exception):
    """The command was refused or failed; the message is one line for the operator."""


async def run(store: IChatStore, action: str, username: str | None) -> str:
    """Do ``action`` (grant, revoke or list) on a started store; the line to print.

    Raises:
        AdminCommandError: no account has that name.
    """
    if action == "list":
        admins = []
        after = 0
        while page := await store.list_accounts(None, after, 500, admins_only=True):
            admins += [f"{a.user.username} (user {a.user.id})" for a in page]
            after = page[-1].user.id
        return "server admins: " + (", ".join(admins) if admins else "none")
    assert username is not None
    try:
        account = await store.set_admin(username, action == "grant")
    except NotFound:
        raise AdminCommandError(f"no account is named {username!r}") from None
    user = account.user
    if action == "grant":
        return f"{user.username} (user {user.id}) is a server admin"
    return f"{user.username} (user {user.id}) is no longer a server admin"


async def _main(reactor: Any, config: Config, action: str, username: str | None) -> None:
    # With the service's ENCRYPTION_KEY: start-up checks it as the service does.
    store = open_store(config.database_url, reactor, config.encryption)
    try:
        await store.start()
        print(await run(store, action, username))
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (0 done, 1 refused or failed)."""
    parser = argparse.ArgumentParser(
        prog="python -m chatservice.admin",
        description="Give or take away the server admin right, on the service's database.",
    )
    parser.add_argument(
        "--database-url",
        help="the store, as for twistd chat (default: the DATABASE_URL environment variable)",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    for action, help_text in (
        ("grant", "make USERNAME a server admin"),
        ("revoke", "take the server admin right away from USERNAME"),
    ):
        commands.add_parser(action, help=help_text).add_argument("username")
    commands.add_parser("list", help="list the server admins")
    args = parser.parse_args(argv)
    try:
        config = Config.from_sources({"database-url": args.database_url})
        url = config.database_url
        if url.startswith("memory:"):
            raise AdminCommandError(MEMORY_REFUSAL)
    except (ConfigError, AdminCommandError) as error:
        print(f"admin: error: {_message(error)}", file=sys.stderr)
        return 1
    status: list[int] = []

    async def command(reactor: Any) -> None:
        try:
            await _main(reactor, config, args.action, getattr(args, "username", None))
            status.append(0)
        except UnsupportedStoreURL as error:
            print(f"admin: error: {_message(error)}", file=sys.stderr)
            status.append(1)
        except (ChatError, AdminCommandError, RuntimeError) as error:
            where = redact_url(url)
            print(f"admin: error: {_message(error)} ({where})", file=sys.stderr)
            status.append(1)

    try:
        react(lambda reactor: Deferred.fromCoroutine(command(reactor)))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            return int(exit_.code) if isinstance(exit_.code, int) else 1
    return status[0] if status else 1


def _message(error: Exception) -> str:
    text = error.message if isinstance(error, ChatError) else str(error)
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
