"""One worker process as its supervisor sees it: its pipes, its readiness, its end.

``WorkerProcess`` is the ``ProcessProtocol`` of one worker of ``twistd chat
--workers``: it writes the worker's spec on the stdin pipe (which then stays
open as the worker's lifeline), relays the worker's log lines into the
supervisor's log stream whole (two workers' lines never interleave within a
line), hears ``ready`` on the status pipe, and tells the supervisor
(``IWorkerEvents``, the ``WorkerPool``) when the worker serves and when it
has ended.
"""

from __future__ import annotations

from typing import IO, Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatservice.workerspec import READY, WorkerSpec


class IWorkerEvents(Protocol):
    """What a supervisor hears from its workers."""

    def worker_serves(self, worker: WorkerProcess) -> None:
        """The worker wrote ``ready``: it adopted the sockets and serves."""

    def worker_ended(self, worker: WorkerProcess, code: int | None, signal: int | None) -> None:
        """The worker exited with ``code``, or was killed by ``signal``."""


class WorkerProcess(ProcessProtocol):
    """One worker's pipes: writes its spec, relays its output, hears it serve and end."""

    log = Logger()

    def __init__(self, pool: IWorkerEvents, slot: int, spec: WorkerSpec, stream: IO[str]) -> None:
        self.pool = pool
        self.slot = slot
        self.spec = spec
        self.stream = stream
        self.pid: int | None = None
        self.serving_since: float | None = None
        self.exited = False
        self._end_waiters: list[Deferred[None]] = []
        self._partial: dict[int, bytes] = {}
        self._status = b""

    def connectionMade(self) -> None:
        """Hand the worker its spec; the pipe then stays open as its lifeline."""
        transport: Any = self.transport
        self.pid = transport.pid
        transport.writeToChild(0, self.spec.encode())

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """Relay log lines (fd 1) and stray output (fd 2); hear ``ready`` on the status pipe."""
        if childFD == self.spec.status_fd:
            self._status += data
            if READY in self._status and self.serving_since is None:
                self.pool.worker_serves(self)
            return
        data = self._partial.pop(childFD, b"") + data
        *lines, rest = data.split(b"\n")
        if rest:
            self._partial[childFD] = rest
        for line in lines:
            self._line(childFD, line)

    def _line(self, fd: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if fd == 1:
            # The worker's log observer formatted it already (text or JSON).
            self.stream.write(text + "\n")
            self.stream.flush()
        elif text.strip():
            self.log.warn("worker {slot}: {line}", slot=self.slot, line=text)

    def processEnded(self, reason: Failure) -> None:
        """Flush what is left of its output; tell the pool how it ended."""
        for fd, rest in sorted(self._partial.items()):
            self._line(fd, rest)
        self._partial.clear()
        ended = reason.value
        assert isinstance(ended, ProcessDone | ProcessTerminated)
        self.exited = True
        self.pool.worker_ended(self, ended.exitCode, ended.signal)
        waiters, self._end_waiters = self._end_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def when_ended(self) -> Deferred[None]:
        """A new Deferred that fires once the worker has exited (cancelling it is harmless)."""
        waiter: Deferred[None] = Deferred()
        if self.exited:
            waiter.callback(None)
        else:
            self._end_waiters.append(waiter)
        return waiter

    def signal(self, name: str) -> None:
        """Send ``name`` ("TERM", "KILL") unless the worker has already exited."""
        transport: Any = self.transport
        if transport is None or self.exited:
            return
        try:
            transport.signalProcess(name)
        except ProcessExitedAlready:
            pass


def all_ended(workers: list[WorkerProcess]) -> Deferred[None]:
    """A Deferred that fires once every one of ``workers`` has exited.

    Cancelling it (a timeout) leaves the workers' own waiters alone.
    """
    ended: Deferred[None] = Deferred()

    def check(_: object = None) -> None:
        if not ended.called and all(w.exited for w in workers):
            ended.callback(None)

    for worker in workers:
        worker.when_ended().addCallback(check)
    check()
    return ended
