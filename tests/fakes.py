"""Fakes for our own collaborators, shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock

from chatservice.config import Config
from chatservice.models import NewMessage, Posted
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore
from chatservice.store.sql import SQLStore

TEST_SECRET = "test-secret-that-is-at-least-32-bytes-long"


class FakeReactor(MemoryReactorClock):
    """A memory reactor whose ``callFromThread`` runs the call at once."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:  # noqa: N802
        f(*args, **kwargs)


def settle(clock: Any) -> bool:
    """End the reactor turn on a test clock: run what is due now, until nothing is.

    The real reactor runs a ``callLater(0)`` once the turn's I/O is done;
    group commit starts its commits there (``gather_turn``). A test that
    drives a service on a fake clock turns it here, where it would wait.
    Returns whether anything ran.
    """
    for turns in range(1000):
        now = clock.seconds()
        if not any(call.getTime() <= now for call in clock.getDelayedCalls()):
            return turns > 0
        clock.advance(0)
    raise AssertionError("calls due now kept scheduling more")


class ImmediateThreadPool:
    """A thread pool that runs work inline, so bcrypt results arrive synchronously."""

    started = True

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""

    def callInThreadWithCallback(  # noqa: N802 - ThreadPool's name
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        try:
            result = f(*a, **kw)
        except BaseException as error:  # noqa: BLE001 - handed to the Deferred like ThreadPool does
            from twisted.python.failure import Failure

            on_result(False, Failure(error))
        else:
            on_result(True, result)


class CountingPool(ImmediateThreadPool):
    """An inline thread pool that counts its jobs: every bcrypt hash or check is one."""

    def __init__(self) -> None:
        self.jobs = 0

    def callInThreadWithCallback(  # noqa: N802 - ThreadPool's name
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        self.jobs += 1
        super().callInThreadWithCallback(on_result, f, *a, **kw)


class HeldPool(ImmediateThreadPool):
    """A pool of ``threads`` busy threads: nothing runs until ``release()``.

    For hashes still in progress: concurrent logins, and the bcrypt queue's
    bound (``PasswordHasher`` reads ``max`` as the pool's thread count).
    """

    def __init__(self, threads: int = 1) -> None:
        self.max = threads
        self.waiting: list[tuple[Callable[[bool, Any], None], Callable[[], Any]]] = []

    def callInThreadWithCallback(  # noqa: N802 - ThreadPool's name
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        self.waiting.append((on_result, lambda: f(*a, **kw)))

    def release(self) -> None:
        """Run every waiting job and deliver its result."""
        waiting, self.waiting = self.waiting, []
        for on_result, job in waiting:
            on_result(True, job())


def count_commits(store: SQLStore) -> list[int]:
    """Wrap ``store.add_messages``; the list it returns grows by each batch's size."""
    commits: list[int] = []
    original = store.add_messages

    def counting(messages: Sequence[NewMessage]) -> Deferred[Sequence[Posted]]:
        commits.append(len(messages))
        return original(messages)

    store.add_messages = counting  # type: ignore[method-assign]
    return commits


def config_for_tests(**changes: Any) -> Config:
    """A Config for tests: memory store, cost-4 bcrypt, no listening endpoints."""
    base = Config.defaults().replace(
        listen=(),
        jwt_secret=TEST_SECRET,
        database_url="memory:",
        bcrypt_rounds=4,
        bcrypt_threads=1,
        ws_ping_interval=0,
        ws_ping_timeout=0,
        # A fake clock does not move by itself: paced commits would wait for
        # it (tests/test_store_batching.py tests the pacing itself).
        commit_interval=0,
    )
    return base.replace(**changes)


def make_service(
    reactor: FakeReactor | None = None, **changes: Any
) -> tuple[ChatService, FakeReactor]:
    """Return a started in-memory ChatService and the fake reactor it runs on."""
    reactor = reactor or FakeReactor()
    service = ChatService(
        config_for_tests(**changes),
        reactor,
        store=MemoryStore(reactor),
        password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        file_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
    )
    service.startService()
    return service, reactor
