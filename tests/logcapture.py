"""Capture the events sent to Twisted's global log publisher during one test."""

from __future__ import annotations

from typing import Any

from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import provider


class LogCapture:
    """Every log event published while the test runs, with helpers to look at them."""

    def __init__(self, test: SynchronousTestCase, namespace: str = "") -> None:
        """Capture until ``test`` ends.

        With ``namespace``, only the events of the loggers whose namespace
        starts with it: one module's, among what a busy reactor logs.
        """
        self.events: list[LogEvent] = []

        @provider(ILogObserver)
        def observe(event: LogEvent) -> None:
            if event.get("log_namespace", "").startswith(namespace):
                self.events.append(event)

        globalLogPublisher.addObserver(observe)
        test.addCleanup(globalLogPublisher.removeObserver, observe)

    def texts(self, at_least: LogLevel = LogLevel.debug) -> list[str]:
        """The formatted text of every event at ``at_least`` or above."""
        return [
            formatEvent(event)
            for event in self.events
            if event.get("log_level", LogLevel.debug) >= at_least
        ]

    def with_field(self, name: str) -> list[Any]:
        """The values of the field ``name`` in every event that has it, in order."""
        return [event[name] for event in self.events if name in event]

    def clear(self) -> None:
        """Forget what was captured so far."""
        self.events.clear()
