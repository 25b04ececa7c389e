"""What the supervisor tells a worker process: one JSON line on the worker's stdin.

The worker's settings travel on a pipe rather than on its command line or in
its environment: ``/proc/<pid>/cmdline`` is readable by every local user and
the settings hold ``JWT_SECRET`` and the database password. The same pipe
then stays open as the worker's lifeline (see ``worker_main``): its end of
file means the supervisor is gone.

The worker's file descriptors, as the supervisor arranges them:

* 0: this line, then the lifeline;
* 1 and 2: its log output and anything it prints, relayed by the supervisor;
* 3 and up: the shared listening sockets, one per ``--listen`` endpoint;
* ``status_fd`` (the next one): where it writes ``ready`` once it serves.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Any

from chatservice.config import Config
from chatservice.listening import AdoptedPort

FIRST_SOCKET_FD = 3
READY = b"ready\n"
# A start-up failure (bad store, schema too new): the supervisor does not
# retry what fails the same way every time.
EXIT_START_FAILED = 3


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """One worker's number, settings, inherited sockets and status pipe."""

    worker: int
    config: Config
    ports: tuple[AdoptedPort, ...]
    status_fd: int
    reactor: str | None = None

    def encode(self) -> bytes:
        """The line the supervisor writes to the worker's stdin."""
        config = {f.name: getattr(self.config, f.name) for f in fields(Config)}
        body = {
            "worker": self.worker,
            "config": config,
            "ports": [[p.fd, p.family, p.description] for p in self.ports],
            "status_fd": self.status_fd,
            "reactor": self.reactor,
        }
        return json.dumps(body).encode("utf-8") + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> WorkerSpec:
        """Read a line written by ``encode``.

        Raises:
            ValueError: not a spec (the process was not started by a supervisor).
        """
        try:
            body = json.loads(line)
            values: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in body["config"].items()
            }
            config = Config(**values)
            ports = tuple(AdoptedPort(int(fd), int(fam), str(d)) for fd, fam, d in body["ports"])
            return cls(int(body["worker"]), config, ports, int(body["status_fd"]), body["reactor"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"not a worker spec: {error}") from None

    @classmethod
    def child_fds(cls, sockets: list[int]) -> dict[int, int | str]:
        """``spawnProcess``'s ``childFDs`` for a worker given the supervisor's sockets."""
        fds: dict[int, int | str] = {0: "w", 1: "r", 2: "r"}
        for offset, fd in enumerate(sockets):
            fds[FIRST_SOCKET_FD + offset] = fd
        fds[FIRST_SOCKET_FD + len(sockets)] = "r"
        return fds


def read_spec(fd: int = 0) -> WorkerSpec:
    """Read the spec line from ``fd`` (blocking: the worker has nothing else to do yet).

    Raises:
        ValueError: end of file before a whole line, or not a spec.
    """
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            raise ValueError("no worker spec on stdin: run this through twistd chat --workers")
        line += chunk
    return WorkerSpec.decode(line)
