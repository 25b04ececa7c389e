"""WorkerThreads: the threads that run the store's transactions, with little in between.

adbapi runs every transaction through a ``twisted.python.threadpool.ThreadPool``,
which is general: a ``Team`` coordinator that hands each task to an idle
worker under a lock (and takes the lock again when the worker is done), a
``queue.Queue`` per worker, a closure and a copy of the legacy logging
context per call. Measured on the service's own commits (``bench/commit_cpu.py``)
that machinery was a fifth of a message commit's CPU, on both sides of the
hand-off, paid once per transaction: with group commit at a steady load,
hundreds of times a second.

What adbapi needs of its pool is smaller: ``start``, ``stop`` and
``callInThreadWithCallback`` (through ``deferToThreadPool``). Plain threads
taking calls from one ``queue.SimpleQueue`` (C, no Python lock around it)
give exactly that. Each thread keeps its own connection, as
adbapi expects (it keys connections by thread), and calls run in the order
they were queued, as they did. Like Twisted's pool, it starts with
``minimum`` threads and adds one only when a call finds none idle, so a
PostgreSQL pool opens more connections only under concurrent load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

# What a worker takes off the queue: the call and where its result goes.
_OnResult = Callable[[bool, Any], object]
_Call = tuple[_OnResult | None, Callable[..., Any], tuple[Any, ...], dict[str, Any]]

# Put on the queue once per thread by ``stop``: "no more calls, exit".
_STOP = None


class WorkerThreads:
    """Up to ``count`` threads that run calls in order; duck-typed for adbapi's ``ThreadPool``."""

    log = Logger()

    def __init__(self, count: int, name: str, minimum: int = 1) -> None:
        """Make no thread yet: adbapi builds its pool before the reactor runs, then starts it."""
        if count < 1:
            raise ValueError("at least one thread is needed")
        self._count = count
        self._minimum = max(1, min(minimum, count))
        self._name = name
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        # Calls queued and not yet taken, and threads waiting for one: a
        # call that finds more of the first than of the second adds a thread.
        self._lock = threading.Lock()
        self._unclaimed = 0
        self._idle = 0
        self.threads: list[threading.Thread] = []
        self.started = False
        self.joined = False

    def start(self) -> None:
        """Start ``minimum`` threads (idle until a call comes)."""
        if self.started:
            return
        self.started = True
        while len(self.threads) < self._minimum:
            self._add_thread()

    def callInThreadWithCallback(  # noqa: N802 - the name adbapi and deferToThreadPool call
        self,
        onResult: _OnResult | None,  # noqa: N803 - their keyword
        func: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Run ``func(*args, **kwargs)`` in a thread, then ``onResult(ok, result)`` there.

        ``result`` is what ``func`` returned, or a ``Failure`` of what it raised.

        After ``stop`` the call is refused through ``onResult`` (a Failure)
        instead of being dropped: a caller waiting on it hears back.
        """
        if self.joined:
            if onResult is not None:
                onResult(False, Failure(RuntimeError(f"{self._name} is stopped")))
            return
        with self._lock:
            self._unclaimed += 1
            grow = (
                self.started and self._unclaimed > self._idle and len(self.threads) < self._count
            )
        self._calls.put((onResult, func, args, kwargs))
        if grow:
            self._add_thread()

    def stop(self) -> None:
        """Let the queued calls finish, then end every thread and wait for it."""
        if self.joined:
            return
        self.joined = True
        self.started = False
        for _ in self.threads:
            self._calls.put(_STOP)
        for thread in self.threads:
            thread.join()
        self.threads = []

    def _add_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{len(self.threads)}", daemon=True
        )
        self.threads.append(thread)
        thread.start()

    def _work(self) -> None:
        calls, lock = self._calls, self._lock
        with lock:
            self._idle += 1
        while True:
            call = calls.get()
            with lock:
                self._idle -= 1
                if call is not _STOP:
                    self._unclaimed -= 1
            if call is _STOP:
                return
            on_result, func, args, kwargs = call
            del call
            try:
                result: Any = func(*args, **kwargs)
                ok = True
            except BaseException:
                result = Failure()
                ok = False
            del func, args, kwargs
            # Idle again before the caller hears back: a call it makes on
            # hearing must find this thread free, not add another.
            with lock:
                self._idle += 1
            # Whatever happens to the answer, the thread lives on to take the
            # next call (a dead one would leave every later caller waiting).
            try:
                if on_result is not None:
                    on_result(ok, result)
                elif not ok:
                    self.log.failure("a call without a receiver failed", result)
            except BaseException:
                self.log.failure("answering a call failed")
            del on_result, result
