"""The sockets of ``bench/workers_fanout.py``: receivers that count, publishers held by a gate.

A publisher's own message comes back from its own process as soon as it is
committed, whatever the other processes are doing: with several workers, a
closed loop on that acknowledgement alone would let the publishers run ahead
of the fan-out of the other workers, and the backlog would grow until the
slow-consumer rules step in. So the loop is closed on delivery instead: a
room's publishers may be at most ``RoomGate.ahead`` messages ahead of the
room's slowest receiver. Both configurations are measured under the same
rule, and what is counted is what every socket received.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred

from bench.rawws import OP_TEXT, RawWebSocket, client_frame

MARKER = b'{"type":"message"'
ERROR = b'{"type":"error"'


@dataclass
class Counts:
    """What one configuration's sockets counted, shared by all of them."""

    sending: bool = False
    measuring: bool = False
    acked: int = 0
    measured_acks: int = 0
    measured_deliveries: int = 0
    in_flight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    drained: Deferred[None] | None = None

    def check_drained(self) -> None:
        """Fire ``drained`` once sending stopped and nothing is in flight."""
        if not self.sending and self.in_flight == 0 and self.drained and not self.drained.called:
            self.drained.callback(None)


class Receiver(RawWebSocket):
    """A socket that only reads, and counts message frames without parsing them."""

    def __init__(self, token: str, host: str, room_id: int) -> None:
        super().__init__(token, host, room_id)
        self.messages = 0
        self._tail = b""

    def on_text(self, buf: bytes, start: int, end: int) -> None:
        if buf.startswith(MARKER, start):
            self.messages += 1

    def dataReceived(self, data: bytes) -> None:
        """Parse until the handshake is done, then only count markers (split ones too)."""
        if not self.opened.called:
            super().dataReceived(data)
            return
        chunk = self._tail + data
        self.messages += chunk.count(MARKER)
        # Shorter than a marker, so nothing in it is counted twice.
        self._tail = chunk[1 - len(MARKER) :]


class RoomGate:
    """Lets a room's publishers run at most ``ahead`` messages ahead of its slowest receiver."""

    def __init__(self, ahead: int) -> None:
        self.ahead = ahead
        self.sent = 0
        self.delivered = 0
        self.receivers: list[Receiver] = []
        self.publishers: list[Publisher] = []

    def open(self) -> bool:
        """True while another message may be sent."""
        return self.sent - self.delivered < self.ahead

    def refresh(self) -> None:
        """Look at the slowest receiver again and let the publishers send what they may."""
        if self.receivers:
            self.delivered = min(r.messages for r in self.receivers)
        for publisher in self.publishers:
            publisher.fill()


class Publisher(RawWebSocket):
    """A socket that sends while its room's gate is open, and counts what it receives."""

    def __init__(
        self, counts: Counts, gate: RoomGate, token: str, user_id: int, host: str, room_id: int
    ) -> None:
        super().__init__(token, host, room_id)
        self.counts = counts
        self.gate = gate
        self.user_id = user_id
        self._mine = f'"sender_id":{user_id},'.encode()
        self._in_flight = 0
        self._next = 0

    def on_text(self, buf: bytes, start: int, end: int) -> None:
        counts = self.counts
        if not buf.startswith(MARKER, start):
            if buf.startswith(ERROR, start):
                counts.errors[json.loads(buf[start:end]).get("code", "?")] += 1
                self._answered()
            return
        if counts.measuring:
            counts.measured_deliveries += 1
        if buf.find(self._mine, start, end) < 0:
            return
        counts.acked += 1
        if counts.measuring:
            counts.measured_acks += 1
        self._answered()

    def _answered(self) -> None:
        self._in_flight -= 1
        self.counts.in_flight -= 1
        if self.counts.sending:
            self.fill()
        else:
            self.counts.check_drained()

    def fill(self) -> None:
        """Send while the gate is open (one message at a time past it)."""
        transport = self.transport
        counts = self.counts
        while transport is not None and counts.sending and self.gate.open():
            n = self._next
            self._next += 1
            payload = b'{"content":"fan-out message %d from user %d","client_msg_id":"%d"}' % (
                n,
                self.user_id,
                n,
            )
            self._in_flight += 1
            counts.in_flight += 1
            self.gate.sent += 1
            transport.write(client_frame(OP_TEXT, payload))
