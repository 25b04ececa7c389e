"""``twistd chat``: command-line options and ``makeService``, the composition root.

This is the only module that reads the environment; it runs after twistd
has installed the reactor chosen with ``--reactor``.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.logger import ILogObserver
from twisted.python import usage

from chatservice.config import Config, ConfigError
from chatservice.errors import ChatError
from chatservice.logs import make_observer, twistd_log_stream
from chatservice.service import ChatService
from chatservice.settings import SETTINGS
from chatservice.startup_heap import freeze_startup_heap
from chatservice.workers import WorkerPool, check_supported


class Options(usage.Options):
    """Options of ``twistd chat``; each falls back to its environment variable."""

    synopsis = "[options]"
    longdesc = (
        "Run the chat backend: REST under /api and WebSocket at /ws on one port. "
        "Every option falls back to the environment variable named in brackets, "
        "then to the default. --listen takes a Twisted endpoint description "
        "(tcp:8081, ssl:8443:privateKey=key.pem:certKey=cert.pem, unix:/run/chat.sock) "
        "and may be repeated; it replaces --port. With --workers N (N > 1) the "
        "tcp: endpoints are shared by N worker processes, which need REDIS_URL and "
        "a database they can all open."
    )
    optParameters = [
        [s.name, None, None, f"{s.doc} [{s.env}, default: {s.default or 'unset'}]"]
        for s in SETTINGS
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, description: str) -> None:
        """Listen on a Twisted endpoint description (repeatable; default tcp:PORT)."""
        self["listen"].append(description)

    def postOptions(self) -> None:  # noqa: N802 - Twisted hook
        """Merge options, environment and defaults into a validated Config."""
        given = {s.name: self[s.name] for s in SETTINGS}
        try:
            self["config"] = Config.from_sources(given, listen=tuple(self["listen"]))
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None


class _TwistdRoot(MultiService):
    """The service twistd runs; it also gives the application our log observer.

    twistd asks the application for an ``ILogObserver`` after
    ``makeService``, so this is where ``LOG_LEVEL`` and ``LOG_FORMAT`` reach
    twistd's logging (an explicit ``twistd --logger`` still wins).
    """

    def __init__(self, observer: ILogObserver) -> None:
        super().__init__()
        self._observer = observer

    def setServiceParent(self, parent: Any) -> None:  # noqa: N802 - Twisted hook
        super().setServiceParent(parent)
        if hasattr(parent, "setComponent") and parent.getComponent(ILogObserver) is None:
            parent.setComponent(ILogObserver, self._observer)


def makeService(options: Options) -> IService:  # noqa: N802 - twistd's name
    """Build the service twistd runs from parsed options."""
    config: Config = options["config"]
    parent = getattr(options, "parent", None) or {}
    stream = twistd_log_stream(parent.get("logfile"), bool(parent.get("nodaemon")))
    root = _TwistdRoot(make_observer(config.log_level, config.log_format, stream))
    service: ChatService | WorkerPool
    if config.workers > 1:
        try:
            check_supported(config)
        except ConfigError as error:
            raise SystemExit(f"twistd chat: {error}") from None
        # The supervisor serves nothing: each worker is a ChatService.
        service = WorkerPool(
            config,
            stream=stream,
            reactor_name=parent.get("reactor"),
            stop_reactor_on_failure=True,
        )
    else:
        try:
            service = ChatService(config, stop_reactor_on_failure=True)
        except ChatError as error:
            # twistd would print a traceback; a bad DATABASE_URL deserves one line.
            raise SystemExit(
                f"twistd chat: DATABASE_URL (--database-url): {error.message}"
            ) from None
        except ValueError as error:
            # A bad REDIS_URL; the message names the setting.
            raise SystemExit(f"twistd chat: {error}") from None
        # A failed start is reported by the service itself (and exits 1).
        service.ready.addCallbacks(freeze_startup_heap, lambda _: None)
    service.setServiceParent(root)
    # twistd exits 0 whatever happened; a supervisor (systemd, a container
    # runtime) must see a failed start. Runs after twistd's own clean-up.
    atexit.register(_exit_1_if_failed, service)
    return root


def _exit_1_if_failed(service: ChatService | WorkerPool) -> None:
    if service.failed_to_start:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run this with: twistd -n chat")
