"""Waiting with a bound: a Deferred that fires when another does, or at a deadline.

Shutdown, the resume and the Redis hub's start-up all wait for something that
may never come (a commit that hangs, a Redis subscription that is never
confirmed, a Redis that is down) and must go on regardless after a while,
without cancelling what they waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure


def within(d: Deferred[Any], timeout: float, clock: IReactorTime) -> Deferred[None]:
    """Fire when ``d`` does or after ``timeout`` seconds, whichever is first."""
    done: Deferred[None] = Deferred()

    def expire() -> None:
        if not done.called:
            done.callback(None)

    timer = clock.callLater(timeout, expire)

    def finished(_: Any) -> None:
        if timer.active():
            timer.cancel()
        if not done.called:
            done.callback(None)

    d.addBoth(finished)
    return done


def succeeded_within(
    d: Deferred[Any],
    timeout: float,
    clock: IReactorTime,
    *,
    failed: Callable[[Failure], object],
    late: Callable[[], object],
) -> Deferred[bool]:
    """Fire True once ``d`` succeeds, False if it fails or ``timeout`` seconds pass first.

    ``late`` is called when the time runs out first; ``failed`` hears of a
    failure of ``d`` whenever it comes, even after that. Cancelling the
    answer stops the timer, never ``d``.
    """
    timer: IDelayedCall | None = None

    def cancel(_: Deferred[bool]) -> None:
        if timer is not None and timer.active():
            timer.cancel()

    result: Deferred[bool] = Deferred(cancel)

    def finish(value: bool) -> None:
        cancel(result)
        if not result.called:
            result.callback(value)

    def refused(failure: Failure) -> None:
        failed(failure)
        finish(False)

    def expire() -> None:
        if not result.called:
            late()
            result.callback(False)

    d.addCallbacks(lambda _: finish(True), refused)
    if not result.called:
        timer = clock.callLater(timeout, expire)
    return result
