"""``twistd chat --workers N``: a supervisor running N worker processes on one listening socket.

The supervisor (this service, in the twistd process) binds each TCP
endpoint of ``--listen`` once and starts N workers (``worker_main``), each
inheriting the sockets; each worker is a complete ChatService on the shared
database and Redis, and the kernel gives every new connection to whichever
worker accepts it first. Messages reach the sockets of the other workers
through Redis, as between any processes of one deployment, which is why
several workers need ``REDIS_URL`` and a database they can all open
(PostgreSQL, or a SQLite file: SQLite serialises the writers of all
processes with its file lock, so only reading and fan-out gain).

The supervisor serves nothing itself. It relays the workers' log lines,
announces ``chatservice listening on ... with N workers`` once every
worker serves, restarts a worker that dies (after a delay that doubles
with each quick death), and on SIGTERM or SIGINT sends every worker
SIGTERM, waits for each to drain as a single process does, and SIGKILLs
one that is still running ``STOP_GRACE`` seconds after its own
``SHUTDOWN_TIMEOUT``.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import IO, Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as TimedOut
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock
from twisted.logger import Logger

import chatservice
from chatservice.config import Config, ConfigError
from chatservice.errors import ChatError
from chatservice.listening import AdoptedPort, bind_shared, shared_tcp_address
from chatservice.metrics_endpoint import PoolMetrics
from chatservice.redisurl import parse_redis_url
from chatservice.store import open_store
from chatservice.workerprocess import WorkerProcess, all_ended
from chatservice.workerspec import EXIT_START_FAILED, FIRST_SOCKET_FD, WorkerSpec

# Beyond SHUTDOWN_TIMEOUT: the last commits and closing the store.
STOP_GRACE = 10.0
WORKER_ARGS = ("-m", "chatservice.worker_main")


def check_supported(config: Config) -> None:
    """Refuse settings several workers cannot run with; one worker takes anything.

    Raises:
        ConfigError: the message names the setting to change.
    """
    if config.workers < 2:
        return
    n = config.workers
    if os.name != "posix":
        raise ConfigError(f"WORKERS (--workers): {n} worker processes need a POSIX system")
    if config.database_url.startswith("memory:"):
        raise ConfigError(
            f"DATABASE_URL (--database-url): memory: keeps the data inside one process; "
            f"{n} workers need a shared database (postgresql://..., or sqlite:///...)"
        )
    if not config.redis_url:
        raise ConfigError(
            f"REDIS_URL (--redis-url): {n} workers need Redis to carry each message "
            "to the sockets of the other workers"
        )
    for description in config.listen:
        shared_tcp_address(description)
    # Every worker would fail the same way: say it once, here.
    try:
        open_store(config.database_url, Clock())
    except ChatError as error:
        raise ConfigError(f"DATABASE_URL (--database-url): {error.message}") from None
    try:
        parse_redis_url(config.redis_url)
    except ValueError as error:
        raise ConfigError(str(error)) from None


class Backoff:
    """The delays before restarting one worker: doubling from ``initial`` up to ``maximum``."""

    def __init__(self, initial: float = 0.5, factor: float = 2.0, maximum: float = 30.0) -> None:
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self._failures = 0

    def next_delay(self) -> float:
        """The delay before the next restart; each call counts one more quick death."""
        delay = min(self.maximum, self.initial * self.factor**self._failures)
        self._failures += 1
        return delay

    def reset(self) -> None:
        """The worker served long enough: its next death is restarted after ``initial``."""
        self._failures = 0


class WorkerPool(Service):
    """Supervises ``config.workers`` worker processes sharing ``config.listen``."""

    log = Logger()

    def __init__(
        self,
        config: Config,
        reactor: Any = None,
        *,
        stream: IO[str] | None = None,
        reactor_name: str | None = None,
        stop_reactor_on_failure: bool = False,
        stable_after: float = 30.0,
    ) -> None:
        """Prepare the pool; sockets are bound in ``privilegedStartService``.

        Args:
            config: the settings every worker gets (``check_supported`` passed).
            reactor: spawns, times and stops (the global one by default).
            stream: where the workers' log lines go (this process's log stream).
            reactor_name: the ``twistd --reactor`` each worker installs too.
            stop_reactor_on_failure: stop the reactor if start-up fails.
            stable_after: seconds a worker must serve for its next death to be
                restarted after the shortest delay again.
        """
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.config = config
        self._reactor = reactor
        self._stream = stream if stream is not None else sys.stdout
        self._reactor_name = reactor_name
        self._stop_reactor_on_failure = stop_reactor_on_failure
        self._stable_after = stable_after
        self._sockets: list[socket.socket] = []
        self._workers: dict[int, WorkerProcess] = {}
        self._restarts: dict[int, IDelayedCall] = {}
        self._backoff = {slot: Backoff() for slot in range(1, config.workers + 1)}
        self._serving = False
        self._stopping = False
        self._failure: str | None = None
        # With METRICS_LISTEN the supervisor serves the workers' summed
        # metrics; the workers serve none (``metrics_endpoint``).
        self._metrics = (
            PoolMetrics(reactor, config.metrics_listen) if config.metrics_listen else None
        )
        self._worker_config = config.replace(metrics_listen=None)

    @property
    def failed_to_start(self) -> bool:
        """True once start-up has failed (a socket not bound, a worker that could not start)."""
        return self._failure is not None

    @property
    def pids(self) -> dict[int, int]:
        """The pid of each running worker, by worker number."""
        return {slot: w.pid for slot, w in self._workers.items() if w.pid is not None}

    def privilegedStartService(self) -> None:  # noqa: N802 - Twisted hook
        """Bind the sockets now, before twistd gives up root (``--uid``)."""
        super().privilegedStartService()
        for description in self.config.listen:
            try:
                self._sockets.append(bind_shared(description))
            except (OSError, ConfigError) as error:
                self._fail(f"cannot listen on {description}: {error}")
                return

    def startService(self) -> None:  # noqa: N802 - Twisted hook
        """Start every worker (binding first if ``privilegedStartService`` was skipped)."""
        if not self._sockets and self._failure is None:
            self.privilegedStartService()
        super().startService()
        if self._failure is not None:
            return
        if self._metrics is None:
            self._spawn_all()
            return
        description = self.config.metrics_listen
        Deferred.fromCoroutine(self._metrics.start()).addCallbacks(
            lambda _: self._spawn_all(),
            lambda failure: self._fail(
                f"cannot serve metrics on {description}: {failure.getErrorMessage()}"
            ),
        )

    def _spawn_all(self) -> None:
        if self._stopping or self._failure is not None:
            return
        for slot in self._backoff:
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        self._restarts.pop(slot, None)
        fds = [s.fileno() for s in self._sockets]
        ports = tuple(
            AdoptedPort(FIRST_SOCKET_FD + i, s.family, d)
            for i, (s, d) in enumerate(zip(self._sockets, self.config.listen, strict=True))
        )
        spec = WorkerSpec(
            slot,
            self._worker_config,
            ports,
            FIRST_SOCKET_FD + len(fds),
            reactor=self._reactor_name,
        )
        worker = WorkerProcess(self, slot, spec, self._stream)
        try:
            self._reactor.spawnProcess(
                worker,
                sys.executable,
                [sys.executable, *WORKER_ARGS],
                env=self._environment(),
                childFDs=WorkerSpec.child_fds(fds),
            )
        except OSError as error:  # out of processes or memory: try again later
            self.worker_ended(worker, None, None, f"could not be started ({error})")
            return
        self._workers[slot] = worker
        self.log.info("worker {slot} started (pid {pid})", slot=slot, pid=worker.pid)

    def worker_serves(self, worker: WorkerProcess) -> None:
        """A worker adopted the sockets and serves; announce the pool once all do."""
        worker.serving_since = self._reactor.seconds()
        if self._serving:
            self.log.info(
                "worker {slot} (pid {pid}) serves again", slot=worker.slot, pid=worker.pid
            )
            return
        if all(w.serving_since is not None for w in self._workers.values()) and len(
            self._workers
        ) == len(self._backoff):
            self._serving = True
            pids = ", ".join(str(pid) for _, pid in sorted(self.pids.items()))
            self.log.info(
                "chatservice listening on {endpoints} with {n} workers (pids {pids})",
                endpoints=", ".join(self.config.listen),
                n=len(self._workers),
                pids=pids,
            )

    def worker_ended(
        self, worker: WorkerProcess, code: int | None, signal: int | None, how: str = ""
    ) -> None:
        """A worker exited: expected while stopping; else a start failure or a death to restart."""
        if self._workers.get(worker.slot) is worker:
            del self._workers[worker.slot]
        if self._metrics is not None:
            self._metrics.worker_ended(worker.pid)
        if not how:
            how = f"exited with status {code}" if signal is None else f"killed by signal {signal}"
        if self._stopping:
            self.log.info("worker {slot} (pid {pid}) stopped", slot=worker.slot, pid=worker.pid)
            return
        if not self._serving and worker.serving_since is None:
            reason = "its store or settings are unusable" if code == EXIT_START_FAILED else how
            self._fail(f"worker {worker.slot} (pid {worker.pid}) did not start: {reason}")
            return
        backoff = self._backoff[worker.slot]
        now = self._reactor.seconds()
        if worker.serving_since is not None and now - worker.serving_since >= self._stable_after:
            backoff.reset()
        delay = backoff.next_delay()
        self.log.error(
            "worker {slot} (pid {pid}) {how}; restarting it in {delay:.1f} s",
            slot=worker.slot,
            pid=worker.pid,
            how=how,
            delay=delay,
        )
        self._restarts[worker.slot] = self._reactor.callLater(delay, self._spawn, worker.slot)

    def _fail(self, reason: str) -> None:
        if self._failure is not None:
            return
        self._failure = reason
        self.log.error("chatservice failed to start: {reason}", reason=reason)
        if self._stop_reactor_on_failure:
            self._reactor.callWhenRunning(self._stop_reactor)

    def _stop_reactor(self) -> None:
        if self._reactor.running:
            self._reactor.stop()

    def stopService(self) -> Deferred[None]:  # noqa: N802 - Twisted hook
        """SIGTERM every worker, wait for them to drain and exit (SIGKILL past the grace)."""
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        self._stopping = True
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts.clear()
        running = list(self._workers.values())
        for worker in running:
            worker.signal("TERM")
        if running:
            grace = self.config.shutdown_timeout + STOP_GRACE
            try:
                await all_ended(running).addTimeout(grace, self._reactor)
            except TimedOut:
                for worker in running:
                    if not worker.exited:
                        self.log.warn(
                            "worker {slot} (pid {pid}) did not stop within {grace:.0f} s; "
                            "killing it",
                            slot=worker.slot,
                            pid=worker.pid,
                            grace=grace,
                        )
                        worker.signal("KILL")
                await all_ended(running)
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self._metrics is not None:
            await self._metrics.stop()
        if running:
            self.log.info("chatservice stopped ({n} workers)", n=len(running))

    def _environment(self) -> dict[str, str]:
        env = _worker_environment()
        return self._metrics.worker_environment(env) if self._metrics is not None else env


def _worker_environment() -> dict[str, str]:
    """This process's environment, with this ``chatservice`` first on the module path.

    The workers must run the code the supervisor runs, even when it was
    found through a path of the supervisor's own (a clone, ``PYTHONPATH``).
    """
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(chatservice.__file__)))
    paths = [package_root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env
