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

import sys
from collections.abc import Sequence
from typing import Any

from chatservice.config import Config, ConfigError
from chatservice.errors import NotFound
from chatservice.store import IChatStore
from chatservice.store_command import command_parser, one_line, run_command, say_error, with_store

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status (0 done, 1 refused or failed)."""
    parser = command_parser(
        "python -m chatservice.admin",
        "Give or take away the server admin right, on the service's database.",
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
        if config.database_url.startswith("memory:"):
            raise AdminCommandError(MEMORY_REFUSAL)
    except (ConfigError, AdminCommandError) as error:
        say_error("admin", one_line(error))
        return 1
    username = getattr(args, "username", None)

    async def work(store: IChatStore) -> None:
        print(await run(store, args.action, username))

    async def command(reactor: Any) -> None:
        # With the service's ENCRYPTION_KEY: start-up checks it as the service does.
        await with_store(reactor, config, config.encryption, work)

    return run_command("admin", config.database_url, command, (AdminCommandError,))


if __name__ == "__main__":
    sys.exit(main())
