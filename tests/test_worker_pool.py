"""The supervisor of ``twistd chat --workers``, on a fake reactor: spawning, restarts, stopping.

Processes are fakes (``FakeProcessReactor``): a test says when a worker
serves (its status pipe), prints, or ends, and moves time with the clock.
The real thing runs in ``tests/test_workers.py``.
"""

from __future__ import annotations

import io
import os
import socket
import sys
from typing import Any

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

import chatservice
from chatservice.workers import STOP_GRACE, Backoff, WorkerPool
from chatservice.workerspec import EXIT_START_FAILED, READY, WorkerSpec
from tests.fakes import config_for_tests
from tests.logcapture import LogCapture

LISTEN = ("tcp:0:interface=127.0.0.1",)


class FakeProcess:
    """The transport of a fake worker: records what the supervisor writes and signals."""

    def __init__(self, pid: int, protocol: ProcessProtocol, args: list[str], **kw: Any) -> None:
        self.pid = pid
        self.protocol = protocol
        self.args = args
        self.child_fds: dict[int, int | str] = kw["childFDs"]
        self.env: dict[str, str] = kw["env"]
        self.stdin = b""
        self.signals: list[str] = []
        self.exited = False

    def writeToChild(self, fd: int, data: bytes) -> None:
        assert fd == 0
        self.stdin += data

    def signalProcess(self, name: str) -> None:
        if self.exited:
            raise ProcessExitedAlready()
        self.signals.append(name)

    @property
    def spec(self) -> WorkerSpec:
        return WorkerSpec.decode(self.stdin)

    def serves(self) -> None:
        """The worker writes ``ready`` on its status pipe."""
        self.protocol.childDataReceived(self.spec.status_fd, READY)

    def end(self, code: int | None = 0, signal: int | None = None) -> None:
        """The worker exits with ``code``, or is killed by ``signal``."""
        self.exited = True
        reason: Exception = (
            ProcessDone(0) if code == 0 and signal is None else ProcessTerminated(code, signal)
        )
        self.protocol.processEnded(Failure(reason))


class FakeProcessReactor(Clock):
    """A Clock that spawns ``FakeProcess``es (pids 1001, 1002, ...) and can be stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.processes: list[FakeProcess] = []
        self.running = True
        self.stopped = False

    def spawnProcess(
        self, protocol: ProcessProtocol, executable: str, args: list[str], **kw: Any
    ) -> FakeProcess:
        process = FakeProcess(1001 + len(self.processes), protocol, args, **kw)
        self.processes.append(process)
        protocol.makeConnection(process)
        return process

    def callWhenRunning(self, f: Any, *args: Any) -> None:
        f(*args)

    def stop(self) -> None:
        self.stopped = True


class WorkerPoolTests(SynchronousTestCase):
    """Start, relay, restart with backoff, and stop a pool of fake workers."""

    def start_pool(self, workers: int = 2, **changes: Any) -> tuple[WorkerPool, Any]:
        self.reactor = FakeProcessReactor()
        self.stream = io.StringIO()
        self.logs = LogCapture(self)
        changes.setdefault("listen", LISTEN)
        config = config_for_tests(workers=workers, redis_url="redis://127.0.0.1/15", **changes)
        pool = WorkerPool(config, self.reactor, stream=self.stream, stop_reactor_on_failure=True)
        pool.startService()
        self.addCleanup(self.stop_quietly, pool)
        return pool, self.reactor

    def stop_quietly(self, pool: WorkerPool) -> None:
        if pool.running:
            stopping = pool.stopService()
            for process in self.reactor.processes:
                if not process.exited:
                    process.end()
            self.successResultOf(stopping)

    def lines(self, level: LogLevel = LogLevel.info) -> list[str]:
        return self.logs.texts(level)

    def test_each_worker_gets_the_sockets_its_spec_and_a_status_pipe(self) -> None:
        """Fd 0 carries the spec, 1-2 are relayed, 3 is the shared socket, 4 the status pipe."""
        pool, reactor = self.start_pool()
        self.assertEqual([p.spec.worker for p in reactor.processes], [1, 2])
        shared = pool._sockets[0]
        for process in reactor.processes:
            self.assertEqual(process.args, [sys.executable, "-m", "chatservice.worker_main"])
            self.assertEqual(
                process.child_fds, {0: "w", 1: "r", 2: "r", 3: shared.fileno(), 4: "r"}
            )
            spec = process.spec
            self.assertEqual(spec.config, pool.config)
            self.assertEqual([(p.fd, p.family) for p in spec.ports], [(3, socket.AF_INET)])
            self.assertEqual(spec.status_fd, 4)
            root = os.path.dirname(os.path.dirname(os.path.abspath(chatservice.__file__)))
            self.assertEqual(process.env["PYTHONPATH"].split(os.pathsep)[0], root)
        self.assertEqual(pool.pids, {1: 1001, 2: 1002})
        self.assertEqual(shared.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)
        self.assertFalse(shared.getblocking())

    def test_listening_is_announced_once_every_worker_serves(self) -> None:
        """The supervisor's "listening on" line waits for the last worker."""
        pool, reactor = self.start_pool()
        reactor.processes[1].serves()
        self.assertFalse([line for line in self.lines() if "listening on" in line])
        reactor.processes[0].serves()
        self.assertIn(
            "chatservice listening on tcp:0:interface=127.0.0.1 with 2 workers (pids 1001, 1002)",
            self.lines(),
        )

    def test_log_lines_are_relayed_whole_and_stray_output_is_logged(self) -> None:
        """Fd 1 lines reach the stream whole; fd 2 lines become warnings naming the worker."""
        pool, reactor = self.start_pool(workers=2)
        worker = reactor.processes[0].protocol
        worker.childDataReceived(1, b"first line\nsecond ")
        self.assertEqual(self.stream.getvalue(), "first line\n")
        worker.childDataReceived(1, b"line\nunfinished")
        worker.childDataReceived(2, b"Fatal Python error: oops\n")
        self.assertEqual(self.stream.getvalue(), "first line\nsecond line\n")
        self.assertIn("worker 1: Fatal Python error: oops", self.lines(LogLevel.warn))
        reactor.processes[0].serves()
        reactor.processes[1].serves()
        reactor.processes[0].end(signal=9)
        self.assertEqual(self.stream.getvalue(), "first line\nsecond line\nunfinished\n")

    def test_a_dead_worker_is_restarted_after_a_doubling_delay(self) -> None:
        """0.5 s, then 1 s after a quick second death; back to 0.5 s once it served 30 s."""
        pool, reactor = self.start_pool()
        for process in reactor.processes:
            process.serves()
        reactor.processes[0].end(signal=9)
        self.assertIn(
            "worker 1 (pid 1001) killed by signal 9; restarting it in 0.5 s",
            self.lines(LogLevel.error),
        )
        reactor.advance(0.49)
        self.assertEqual(len(reactor.processes), 2)
        reactor.advance(0.01)
        self.assertEqual(len(reactor.processes), 3)
        self.assertEqual(reactor.processes[2].spec.worker, 1)
        self.assertEqual(pool.pids, {1: 1003, 2: 1002})
        reactor.processes[2].end(code=1)
        self.assertIn(
            "worker 1 (pid 1003) exited with status 1; restarting it in 1.0 s",
            self.lines(LogLevel.error),
        )
        reactor.advance(1.0)
        reactor.processes[3].serves()
        self.assertIn("worker 1 (pid 1004) serves again", self.lines())
        reactor.advance(30)
        reactor.processes[3].end(signal=11)
        self.assertIn(
            "worker 1 (pid 1004) killed by signal 11; restarting it in 0.5 s",
            self.lines(LogLevel.error),
        )

    def test_a_worker_that_cannot_start_fails_the_pool(self) -> None:
        """Before the pool served, a worker's start failure stops everything; no retries."""
        pool, reactor = self.start_pool()
        reactor.processes[0].serves()
        reactor.processes[1].end(code=EXIT_START_FAILED)
        self.assertTrue(pool.failed_to_start)
        self.assertTrue(reactor.stopped)
        self.assertIn(
            "chatservice failed to start: worker 2 (pid 1002) did not start: "
            "its store or settings are unusable",
            self.lines(LogLevel.error),
        )
        reactor.advance(60)
        self.assertEqual(len(reactor.processes), 2)

    def test_stopping_terminates_every_worker_and_waits_for_them(self) -> None:
        """SIGTERM to each worker; the stop fires once the last has exited; sockets closed."""
        pool, reactor = self.start_pool()
        shared = pool._sockets[0]
        for process in reactor.processes:
            process.serves()
        stopping = pool.stopService()
        self.assertEqual([p.signals for p in reactor.processes], [["TERM"], ["TERM"]])
        reactor.processes[0].end()
        self.assertNoResult(stopping)
        reactor.processes[1].end()
        self.successResultOf(stopping)
        self.assertEqual(shared.fileno(), -1)
        self.assertEqual(len(reactor.processes), 2, "nothing restarted while stopping")
        self.assertIn("chatservice stopped (2 workers)", self.lines())

    def test_a_worker_still_running_after_the_grace_is_killed(self) -> None:
        """SHUTDOWN_TIMEOUT + STOP_GRACE after SIGTERM, a worker still running gets SIGKILL."""
        pool, reactor = self.start_pool(shutdown_timeout=2.0)
        stopping = pool.stopService()
        reactor.processes[0].end()
        reactor.advance(2.0 + STOP_GRACE - 0.1)
        self.assertEqual(reactor.processes[1].signals, ["TERM"])
        reactor.advance(0.1)
        self.assertEqual(reactor.processes[1].signals, ["TERM", "KILL"])
        self.assertIn(
            "worker 2 (pid 1002) did not stop within 12 s; killing it", self.lines(LogLevel.warn)
        )
        self.assertNoResult(stopping)
        reactor.processes[1].end(signal=9)
        self.successResultOf(stopping)

    def test_a_restart_pending_when_stopping_is_cancelled(self) -> None:
        """A worker that died just before the stop is not started again."""
        pool, reactor = self.start_pool()
        for process in reactor.processes:
            process.serves()
        reactor.processes[0].end(signal=9)
        stopping = pool.stopService()
        reactor.processes[1].end()
        self.successResultOf(stopping)
        reactor.advance(60)
        self.assertEqual(len(reactor.processes), 2)

    def test_an_address_in_use_fails_the_pool_before_any_worker(self) -> None:
        """A socket that cannot be bound is a start failure naming the endpoint."""
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        pool, reactor = self.start_pool(listen=(f"tcp:{port}:interface=127.0.0.1",))
        self.assertTrue(pool.failed_to_start)
        self.assertEqual(reactor.processes, [])
        self.assertTrue(reactor.stopped)
        (line,) = [x for x in self.lines(LogLevel.error) if "failed to start" in x]
        self.assertIn(f"cannot listen on tcp:{port}:interface=127.0.0.1", line)


class BackoffTests(SynchronousTestCase):
    """Restart delays double up to a bound and start over after a reset."""

    def test_delays_double_up_to_the_maximum(self) -> None:
        """0.5, 1, 2, ... capped at 30 s."""
        backoff = Backoff()
        delays = [backoff.next_delay() for _ in range(9)]
        self.assertEqual(delays, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0])

    def test_a_reset_starts_over(self) -> None:
        """After a reset the next delay is the first one again."""
        backoff = Backoff(initial=1.0, factor=3.0, maximum=100.0)
        self.assertEqual([backoff.next_delay() for _ in range(3)], [1.0, 3.0, 9.0])
        backoff.reset()
        self.assertEqual(backoff.next_delay(), 1.0)
