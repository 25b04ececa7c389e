"""The hook other code subscribes to, to hear that a user should be notified.

``Notifications`` (``notifications.py``) calls every registered
``INotificationSink`` once per event, on the process that committed the
message, after the commit: when a stored message (or an edit) mentions a
user, and when a message is posted in a direct room (for each member but
the sender). Web Push plugs in here; a sink decides for itself whether the
user needs it (e.g. no open socket anywhere) and must not block: it gets
the message and returns at once, doing any I/O in the background.

A sink that raises is logged and skipped; the others still run, and the
message is stored and delivered whatever sinks do. ``room`` is the room as
this process first read it (kept per process: its ``id`` and ``direct``
never change, but its name or archive state may have since).
"""

from __future__ import annotations

from twisted.logger import Logger
from zope.interface import Interface, implementer

from chatservice.models import Message, Room


class INotificationSink(Interface):
    """Hears about the users a new message is for, beyond the room's open sockets."""

    def mentioned(user_id: int, message: Message, room: Room) -> None:
        """``message`` (in ``room``) mentions ``user_id``, newly (a post, or an edit adding it)."""

    def direct_message(user_id: int, message: Message, room: Room) -> None:
        """``message`` was posted in the direct room ``room`` that ``user_id`` is a member of."""


@implementer(INotificationSink)
class NotificationHooks:
    """The registry of sinks: itself a sink that passes each call to every registered one."""

    log = Logger()

    def __init__(self) -> None:
        self._sinks: list[INotificationSink] = []

    def add(self, sink: INotificationSink) -> None:
        """Register ``sink`` (once; adding it again does nothing)."""
        if sink not in self._sinks:
            self._sinks.append(sink)

    def remove(self, sink: INotificationSink) -> None:
        """Unregister ``sink``, if registered."""
        if sink in self._sinks:
            self._sinks.remove(sink)

    @property
    def active(self) -> bool:
        """True when some sink listens (so callers may skip work nobody hears)."""
        return bool(self._sinks)

    def mentioned(self, user_id: int, message: Message, room: Room) -> None:
        """Tell every sink that ``user_id`` was mentioned."""
        for sink in list(self._sinks):
            try:
                sink.mentioned(user_id, message, room)
            except Exception:
                self.log.failure("a notification sink failed on a mention")

    def direct_message(self, user_id: int, message: Message, room: Room) -> None:
        """Tell every sink that ``user_id`` got a direct message."""
        for sink in list(self._sinks):
            try:
                sink.direct_message(user_id, message, room)
            except Exception:
                self.log.failure("a notification sink failed on a direct message")
