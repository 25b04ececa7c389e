"""Waiting with a bound: a Deferred that fires when another does, or at a deadline.

Shutdown and the resume both wait for something that may never come (a
commit that hangs, a Redis subscription that is never confirmed) and must
go on regardless after a while, without cancelling what they waited for.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime


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
