"""The store's transaction threads (``WorkerThreads``), under adbapi's pool and on their own.

Real threads and the real reactor: each test waits on Deferreds fired by
``deferToThreadPool`` (as adbapi calls the pool), never on a timer.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.threads import deferToThreadPool
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.store.pool import Pool
from chatservice.store.worker_threads import WorkerThreads
from tests.logcapture import LogCapture


def started(count: int = 1) -> WorkerThreads:
    """A started pool of ``count`` threads."""
    threads = WorkerThreads(count, name="test")
    threads.start()
    return threads


def sqlite_pool(on: Any) -> Pool:
    """The store's ``Pool`` on a new SQLite file, one connection, reactor ``on``."""
    path = os.path.join(tempfile.mkdtemp(), "t.sqlite3")
    return Pool(
        lambda _: False,
        "sqlite3",
        path,
        check_same_thread=False,
        cp_min=1,
        cp_max=1,
        cp_reactor=on,
    )


class WorkerThreadsTests(TestCase):
    """What adbapi relies on: results, failures, order, per-thread identity, stopping."""

    def run_in(self, threads: WorkerThreads, func: Any, *args: Any) -> Deferred[Any]:
        return deferToThreadPool(reactor, threads, func, *args)  # type: ignore[arg-type]

    async def test_a_call_runs_in_another_thread_and_answers(self) -> None:
        """The result comes back to the reactor thread; the call ran elsewhere."""
        threads = started()
        self.addCleanup(threads.stop)
        ran_in = await self.run_in(threads, threading.get_ident)
        self.assertNotEqual(ran_in, threading.get_ident())
        self.assertIn(ran_in, [thread.ident for thread in threads.threads])

    async def test_an_exception_comes_back_as_a_failure(self) -> None:
        """What the call raised fails the Deferred, with its own type and message."""
        threads = started()
        self.addCleanup(threads.stop)

        def broken() -> None:
            raise sqlite3.OperationalError("database is locked")

        with self.assertRaisesRegex(sqlite3.OperationalError, "database is locked"):
            await self.run_in(threads, broken)
        # The thread survives its call's exception.
        self.assertEqual(await self.run_in(threads, lambda: 7), 7)

    async def test_one_thread_runs_calls_in_the_order_they_came(self) -> None:
        """With one thread (SQLite's pool), calls never overtake each other."""
        threads = started(1)
        self.addCleanup(threads.stop)
        seen: list[int] = []
        await gatherResults([self.run_in(threads, seen.append, n) for n in range(200)])
        self.assertEqual(seen, list(range(200)))

    async def test_several_threads_share_the_calls(self) -> None:
        """Two threads: a call blocked in one leaves the other serving."""
        threads = started(2)
        self.addCleanup(threads.stop)
        release = threading.Event()
        # Cleanups run last first: the blocked call is released before the
        # join, so a failure here fails the test instead of hanging it.
        self.addCleanup(release.set)
        blocked = self.run_in(threads, release.wait)
        # Answered while the first call still holds its thread.
        self.assertEqual(await self.run_in(threads, lambda: "free"), "free")
        self.assertFalse(blocked.called)
        release.set()
        self.assertTrue(await blocked)

    async def test_calls_one_at_a_time_use_one_thread(self) -> None:
        """Threads are added only when a call finds none idle (one connection each)."""
        threads = started(4)
        self.addCleanup(threads.stop)
        ran_in = {await self.run_in(threads, threading.get_ident) for _ in range(40)}
        self.assertEqual(len(ran_in), 1)
        self.assertEqual(len(threads.threads), 1)

    def test_a_call_made_as_the_last_one_answers_needs_no_new_thread(self) -> None:
        """A thread is idle again before its caller hears back.

        Each answer below queues the next call at once, as a caller in the
        reactor thread may before the worker has gone back to the queue;
        counted busy until then, the worker made every such call add a
        thread (the one-at-a-time test above failed that way under load).
        """
        threads = started(4)
        self.addCleanup(threads.stop)
        done = threading.Event()
        ran_in: set[int] = set()
        more = iter(range(20))

        def answer(ok: bool, result: int) -> None:
            ran_in.add(result)
            if len(ran_in) > 1 or next(more, None) is None:
                done.set()
                return
            threads.callInThreadWithCallback(answer, threading.get_ident)

        threads.callInThreadWithCallback(answer, threading.get_ident)
        self.assertTrue(done.wait(30))
        self.assertEqual(len(ran_in), 1)
        self.assertEqual(len(threads.threads), 1)

    def test_a_failing_answer_leaves_the_thread_serving(self) -> None:
        """``onResult`` raising is logged; the one thread still takes the next call."""
        threads = started(1)
        self.addCleanup(threads.stop)
        logged = LogCapture(self, "chatservice.store.worker_threads")
        answered = threading.Event()

        def broken_answer(ok: bool, result: object) -> None:
            raise RuntimeError("the reactor's waker is gone")

        threads.callInThreadWithCallback(broken_answer, int)
        threads.callInThreadWithCallback(lambda ok, result: answered.set(), int)
        self.assertTrue(answered.wait(30), "the only worker thread died")
        self.assertTrue(threads.threads[0].is_alive())
        threads.stop()
        self.assertEqual(logged.texts(), ["answering a call failed"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_a_failure_nobody_receives_is_logged(self) -> None:
        """A call without ``onResult`` that raises is not silently lost."""
        threads = started(1)
        logged = LogCapture(self, "chatservice.store.worker_threads")

        def broken() -> None:
            raise ValueError("lost")

        threads.callInThreadWithCallback(None, broken)
        threads.stop()
        self.assertEqual(logged.texts(), ["a call without a receiver failed"])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_stop_finishes_queued_calls_and_ends_every_thread(self) -> None:
        """``stop`` lets what was queued run, then joins the threads."""
        threads = started(3)
        done: list[int] = []
        for n in range(50):
            threads.callInThreadWithCallback(None, done.append, n)
        workers = list(threads.threads)
        threads.stop()
        self.assertEqual(sorted(done), list(range(50)))
        self.assertFalse(any(thread.is_alive() for thread in workers))
        self.assertEqual(threads.threads, [])

    def test_a_call_after_stop_is_refused_not_dropped(self) -> None:
        """The caller hears back with a Failure instead of waiting forever."""
        threads = started()
        threads.stop()
        answers: list[tuple[bool, Any]] = []
        threads.callInThreadWithCallback(lambda ok, result: answers.append((ok, result)), int)
        [(ok, failure)] = answers
        self.assertFalse(ok)
        self.assertIn("stopped", str(failure.value))


class ConstructionTests(SynchronousTestCase):
    """Threads are made on ``start``, at least one."""

    def test_no_thread_before_start(self) -> None:
        """Building the pool (before the reactor runs) starts nothing."""
        self.assertEqual(WorkerThreads(2, name="idle").threads, [])

    def test_zero_threads_is_refused(self) -> None:
        """A pool that could run nothing is a configuration error, said at once."""
        self.assertRaises(ValueError, WorkerThreads, 0, "none")


class AdbapiPoolTests(TestCase):
    """The store's ``Pool`` runs transactions on ``WorkerThreads``, a connection per thread."""

    async def test_the_pool_runs_transactions_on_its_own_threads(self) -> None:
        """Each transaction goes through ``WorkerThreads`` and commits on a kept connection."""
        pool = sqlite_pool(reactor)
        self.assertIsInstance(pool.threadpool, WorkerThreads)
        pool.open()
        self.addCleanup(pool.shut)

        def write(conn: Any, value: int) -> tuple[int, int]:
            conn.cursor().execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
            conn.cursor().execute("INSERT INTO t VALUES (?)", (value,))
            conn.commit()
            return threading.get_ident(), id(conn._connection)

        first = await pool.run(write, 1)
        second = await pool.run(write, 2)
        # The same thread and the same DB-API connection for both.
        self.assertEqual(first, second)
        self.assertIn(first[0], [thread.ident for thread in pool.threadpool.threads])

        def count(conn: Any) -> int:
            return int(conn.cursor().execute("SELECT COUNT(*) FROM t").fetchone()[0])

        self.assertEqual(await pool.run(count), 2)


class _RunningReactor:
    """Enough of a running reactor for adbapi: ``callWhenRunning`` calls at once."""

    def __init__(self) -> None:
        self.triggers: list[tuple[str, str, Any]] = []

    def callWhenRunning(self, call: Any) -> None:  # noqa: N802 - the reactor's name
        call()

    def addSystemEventTrigger(self, phase: str, event: str, call: Any) -> str:  # noqa: N802
        self.triggers.append((phase, event, call))
        return "trigger"

    def removeSystemEventTrigger(self, trigger: str) -> None:  # noqa: N802
        """Nothing to remove."""


class PoolMadeWhileRunningTests(SynchronousTestCase):
    """A pool built under a running reactor starts ``WorkerThreads``, not Twisted's pool.

    adbapi starts its pool from ``__init__`` when the reactor already runs
    (a service started in a running reactor, as in every trial test): the
    first version swapped the threads in after that, so Twisted's pool ran
    and nothing ever took the store's calls.
    """

    def test_the_worker_threads_are_the_started_ones(self) -> None:
        """Built in a running reactor: ``WorkerThreads`` started, no other thread pool."""
        pool = sqlite_pool(_RunningReactor())
        self.addCleanup(pool.shut)
        self.assertTrue(pool.running)
        self.assertIsInstance(pool.threadpool, WorkerThreads)
        self.assertEqual(len(pool.threadpool.threads), 1)
        self.assertTrue(pool.threadpool.threads[0].is_alive())
        names = [thread.name for thread in threading.enumerate()]
        self.assertFalse([name for name in names if name.startswith("PoolThread")], names)
