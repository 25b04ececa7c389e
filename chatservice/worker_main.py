"""One worker of ``twistd chat --workers N``: a ChatService on sockets the supervisor shares.

``chatservice.workers`` starts each worker as ``python -m
chatservice.worker_main`` and writes its ``WorkerSpec`` to the worker's
stdin. The worker runs the same ChatService as a single process, except
that it adopts the inherited listening sockets instead of binding its own,
and it stops the way twistd stops one: SIGTERM stops the reactor, and
stopping the service drains every socket (1001) and the last commits.

It stops on its own when its supervisor is gone: the supervisor never
writes to the stdin pipe again after the spec, so the pipe's end of file
(the kernel closes the supervisor's end whatever killed it, SIGKILL
included) is the "lifeline" the worker watches. SIGINT is ignored, so that
a Ctrl-C in a terminal (which reaches the whole process group) stops the
workers through the supervisor, once, instead of racing it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.error import ReactorNotRunning
from twisted.internet.interfaces import IReadDescriptor
from twisted.internet.task import LoopingCall
from twisted.logger import ILogObserver, Logger, globalLogBeginner
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice import tally
from chatservice.logs import make_observer
from chatservice.metrics_endpoint import MULTIPROC_ENV
from chatservice.service import ChatService
from chatservice.startup_heap import freeze_startup_heap
from chatservice.workerspec import EXIT_START_FAILED, READY, WorkerSpec, read_spec

# Not a class attribute: a Logger there names itself after the class's
# module, which is "__main__" when the worker runs as ``python -m``.
_log = Logger(namespace="chatservice.worker_main")


@implementer(IReadDescriptor)
class Lifeline:
    """Watches a pipe nobody writes to; calls ``on_eof`` once its other end is closed."""

    def __init__(self, fd: int, on_eof: Callable[[], None]) -> None:
        """Watch ``fd`` (made non-blocking here); ``startReading`` adds it to a reactor."""
        self._fd = fd
        self._on_eof = on_eof
        self._reactor: Any = None
        os.set_blocking(fd, False)

    def start_reading(self, reactor: Any) -> None:
        """Have ``reactor`` tell us when the pipe is readable (data or end of file)."""
        self._reactor = reactor
        reactor.addReader(self)

    def stop_reading(self) -> None:
        """Stop watching (the pipe stays open)."""
        if self._reactor is not None:
            self._reactor.removeReader(self)
            self._reactor = None

    def fileno(self) -> int:
        """The watched file descriptor."""
        return self._fd

    def doRead(self) -> Failure | None:
        """Read and ignore whatever arrives; at end of file stop watching and say so."""
        try:
            if os.read(self._fd, 4096):
                return None
        except BlockingIOError:
            return None
        except OSError:
            pass  # as good as the end
        self._ended()
        return None

    def connectionLost(self, reason: Failure) -> None:
        """The reactor gave up on the descriptor (it is closed, or it hung up)."""
        self._reactor = None
        self._ended()

    def _ended(self) -> None:
        self.stop_reading()
        on_eof, self._on_eof = self._on_eof, lambda: None
        on_eof()

    def logPrefix(self) -> str:
        """How the reactor names us in its logs."""
        return "lifeline"


class Worker:
    """Runs one ChatService on the adopted sockets and reports to the supervisor."""

    def __init__(self, reactor: Any, spec: WorkerSpec, service: ChatService) -> None:
        self._reactor = reactor
        self._spec = spec
        self.service = service
        self._stopping = False
        self.lifeline = Lifeline(0, self._supervisor_gone)
        # With METRICS_LISTEN the supervisor sums the workers' metric files:
        # the hot-path tallies are moved into them every FLUSH_SECONDS.
        self._flushing: LoopingCall | None = None
        if os.environ.get(MULTIPROC_ENV):
            self._flushing = LoopingCall(tally.flush)
            self._flushing.clock = reactor

    def start(self) -> None:
        """Arrange start-up and shutdown; call before ``reactor.run()``."""
        self._reactor.callWhenRunning(self.service.startService)
        self._reactor.addSystemEventTrigger("before", "shutdown", self._stop)
        self.service.ready.addCallbacks(self._serving, lambda _: None)
        self.lifeline.start_reading(self._reactor)
        if self._flushing is not None:
            self._flushing.start(tally.FLUSH_SECONDS, now=False)

    def _serving(self, _: object) -> None:
        freeze_startup_heap()
        _log.info(
            "worker {worker} (pid {pid}) serves",
            worker=self._spec.worker,
            pid=os.getpid(),
        )
        try:
            os.write(self._spec.status_fd, READY)
        except OSError:
            pass  # the supervisor is gone; the lifeline says so too

    def on_sigterm(self, signum: int, frame: object) -> None:
        """The signal handler: stop once, however many SIGTERMs arrive.

        Twisted's own handler calls ``reactor.stop()`` for each one, and a
        second (the supervisor's after a process group's, as systemd sends
        by default) would log a ReactorNotRunning traceback.
        """
        self._reactor.callFromThread(self.stop, "SIGTERM")

    def _supervisor_gone(self) -> None:
        self.stop("the supervisor is gone (its pipe closed)")

    def stop(self, why: str) -> None:
        """Stop the reactor (and so drain the service), unless already stopping."""
        if self._stopping:
            return
        self._stopping = True
        _log.info("worker {worker}: {why}; stopping", worker=self._spec.worker, why=why)
        try:
            self._reactor.stop()
        except ReactorNotRunning:
            pass

    def _stop(self) -> Deferred[None] | None:
        self._stopping = True
        self.lifeline.stop_reading()
        if not self.service.running:
            self._stop_flushing()
            return None
        return self.service.stopService().addBoth(self._stop_flushing)

    def _stop_flushing(self, result: object = None) -> object:
        """Stop the periodic flush after a last one: a stopping worker's counts are kept."""
        if self._flushing is not None and self._flushing.running:
            self._flushing.stop()
        tally.flush()
        return result


def tag_events(observer: ILogObserver, worker: int) -> ILogObserver:
    """Name the worker in each event's system, which the text format shows in brackets.

    The supervisor relays every worker's lines into one log; without the tag
    two workers' "chatservice stopped" would be told apart by nothing.
    """

    def tagged(event: dict[str, Any]) -> None:
        system = event.get("log_system")
        if system is None or system == "-":
            level = getattr(event.get("log_level"), "name", "-")
            system = f"{event.get('log_namespace', '-')}#{level}"
        observer({**event, "log_system": f"worker {worker} {system}"})

    return cast(ILogObserver, tagged)


def run(reactor: Any, spec: WorkerSpec) -> int:
    """Serve until stopped; return the exit status (``EXIT_START_FAILED`` if start-up failed)."""
    observer = make_observer(spec.config.log_level, spec.config.log_format, sys.stdout)
    globalLogBeginner.beginLoggingTo([tag_events(observer, spec.worker)], redirectStandardIO=False)
    service = ChatService(spec.config, reactor, adopted=spec.ports, stop_reactor_on_failure=True)
    worker = Worker(reactor, spec, service)
    worker.start()
    signal.signal(signal.SIGTERM, worker.on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Our handlers instead of Twisted's (see Worker.on_sigterm); a worker
    # spawns no processes, so it needs no SIGCHLD handler either.
    reactor.run(installSignalHandlers=False)
    return EXIT_START_FAILED if service.failed_to_start else 0


def main() -> None:
    """Read the spec from stdin, install the supervisor's reactor, serve, exit."""
    try:
        spec = read_spec(0)
    except ValueError as error:
        sys.exit(f"chatservice.worker_main: {error}")
    if spec.reactor:
        from twisted.application.reactors import installReactor

        installReactor(spec.reactor)
    from twisted.internet import reactor

    sys.exit(run(reactor, spec))


if __name__ == "__main__":
    main()
