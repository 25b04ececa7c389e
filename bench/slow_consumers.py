"""Server memory and readers' latency with 1,000 sockets in one room while 1% do not read.

Two runs against a fresh ``twistd -n chat`` child each (``memory:`` store,
abuse limits lifted, pings off so that only the slow-consumer rule can close
a socket): one where every socket reads, one where 1% of them (10 of 1,000)
stop reading as soon as they are open. A few of the sockets send messages at
a fixed total rate, each carrying its send time; every reading socket
records the delivery latency of every message. The server's RSS
(``/proc/<pid>/status`` VmRSS) is sampled every 0.5 s.

What should hold: the non-readers are closed (1008 "slow consumer", logged
by the server), the server's memory stays bounded, every reader receives
every message, and the readers' p99 latency stays within 20% of the
all-reading run.

Latency on a shared 2-core virtual machine is noisy (whatever else runs
shows up as seconds of doubled p99), so the two runs alternate for
``--rounds`` rounds, the server is pinned to CPU 0 and the load generator to
CPU 1, each run prints its p99 per 5-second window, and the comparison uses
the medians of the rounds. About 5 minutes with the defaults.

A socket that does not read first fills its kernel buffers: the client's
receive buffer (``SO_RCVBUF`` set to 4 KiB before connecting) and the
server's send buffer, which Linux autotunes up to ``net.ipv4.tcp_wmem``'s
maximum (~2.8 MB absorbed here before a send would block). Only then does
Twisted buffer (64 KiB) and pause the socket's outbox, which queues up to
``WS_MAX_BUFFER`` (1 MiB) before the server closes it. The messages are 3 KB
by default (``MAX_MESSAGE_LENGTH`` is raised to allow it) so that this
happens well within the run at a message rate that keeps both processes
under a core on a 2-core machine.

    PYTHONPATH=. python bench/slow_consumers.py [--sockets 1000] [--percent 1]
        [--rate 50] [--size 3000] [--seconds 25] [--rounds 3] [--no-pin]

The load generator speaks RFC 6455 itself on plain Twisted sockets (see
``bench/rawws.py``) so that it needs little CPU per frame. A
non-reader's transport is paused (``pauseProducing``): Twisted stops reading
its socket, exactly like a client that never reads.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall, deferLater, react

from bench.rawws import OP_TEXT, RawWebSocket, client_frame, close_all
from bench.twistd_server import TwistdServer

SLOW_CONSUMER_LOG = "closing a slow consumer"
CLOSE_POLICY_VIOLATION = 1008
SENDERS = 4
USERS = 10
NON_READER_RCVBUF = 4096
CONNECT_BATCH = 50  # below twistd's listen backlog (50), so no SYN is ever dropped
CONTENT_MARK = b'"content":"t='
WINDOW_S = 5.0


@dataclass
class Stats:
    """What every socket of one run counts, shared by all of them."""

    measuring: bool = False
    sent: int = 0
    began: float = 0.0
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    # When each sample was taken, in seconds since sending began.
    at_s: array[float] = field(default_factory=lambda: array("d"))


class BenchSocket(RawWebSocket):
    """One WebSocket client in room 1 that counts and times the messages it receives."""

    def __init__(self, stats: Stats, token: str, host: str, reader: bool) -> None:
        super().__init__(token, host, 1)
        self.stats = stats
        self.reader = reader
        self.received = 0

    def on_text(self, buf: bytes, start: int, end: int) -> None:
        if not buf.startswith(b'{"type":"message"', start):
            return
        self.received += 1
        if not self.stats.measuring:
            return
        mark = buf.find(CONTENT_MARK, start, end) + len(CONTENT_MARK)
        sent_ns = int(buf[mark : buf.find(b";", mark, end)])
        now_ns = time.perf_counter_ns()
        self.stats.latencies_ms.append((now_ns - sent_ns) / 1e6)
        self.stats.at_s.append(now_ns / 1e9 - self.stats.began)

    def send_message(self, padding: bytes) -> None:
        """Send one message that carries its send time."""
        assert self.transport is not None
        payload = b'{"content":"t=%d;%s"}' % (time.perf_counter_ns(), padding)
        self.transport.write(client_frame(OP_TEXT, payload))

    def stop_reading(self) -> None:
        """Never read again (Twisted stops reading the socket; the kernel buffers fill)."""
        assert self.transport is not None
        self.transport.pauseProducing()  # type: ignore[attr-defined]

    def start_reading(self) -> None:
        """Read again (after the run, to see how the server ended the connection)."""
        assert self.transport is not None
        self.transport.resumeProducing()  # type: ignore[attr-defined]


class OneProtocol(Factory):
    """A factory that hands out one already-built protocol."""

    def __init__(self, protocol: BenchSocket) -> None:
        self.protocol_instance = protocol

    def buildProtocol(self, addr: Any) -> BenchSocket:
        return self.protocol_instance


def connect_socket(reactor: Any, port: int, protocol: BenchSocket, rcvbuf: int | None) -> None:
    """Connect a TCP socket (with ``SO_RCVBUF`` set first, if given) and hand it to Twisted."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            # Before connect, so that the advertised window is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", port))  # loopback, within the backlog: immediate
        sock.setblocking(False)
        reactor.adoptStreamConnection(sock.fileno(), socket.AF_INET, OneProtocol(protocol))
    finally:
        sock.close()  # the reactor works on its own duplicate of the descriptor


def windowed_p99(stats: Stats, width: float) -> list[tuple[int, float]]:
    """The p99 latency of each ``width``-second window of the run."""
    buckets: dict[int, list[float]] = {}
    for at, latency in zip(stats.at_s, stats.latencies_ms, strict=True):
        buckets.setdefault(int(at // width), []).append(latency)
    return [
        (int(index * width), quantile(sorted(samples), 0.99))
        for index, samples in sorted(buckets.items())
    ]


def rss_kb(pid: int) -> int:
    """The process's resident set size in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted samples (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    """The numbers of one run."""

    label: str
    sockets: int
    non_readers: int
    sent: int = 0
    rss_idle_kb: int = 0
    rss_start_kb: int = 0
    rss_peak_kb: int = 0
    rss_end_kb: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    samples: int = 0
    min_received: int = 0
    max_received: int = 0
    slow_consumer_logs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    first_close_after_s: float | None = None
    windows: list[tuple[int, float]] = field(default_factory=list)  # (start s, p99 ms)

    def report(self) -> str:
        """A few lines for one run."""
        readers = self.sockets - self.non_readers
        lines = [
            f"-- {self.label}: {self.sockets} sockets, {self.non_readers} not reading",
            f"   sent {self.sent} messages; each of the {readers} readers received "
            f"{self.min_received}..{self.max_received}",
            f"   reader latency  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
            f"max {self.max_ms:7.2f} ms  (n={self.samples})",
            f"   server RSS      idle {self.rss_idle_kb / 1024:6.1f} MiB  "
            f"start {self.rss_start_kb / 1024:6.1f} MiB  peak {self.rss_peak_kb / 1024:6.1f} MiB  "
            f"end {self.rss_end_kb / 1024:6.1f} MiB",
            f"   CPU             server {100 * self.server_cpu:5.1f}% of a core, "
            f"load generator {100 * self.client_cpu:5.1f}%",
            "   p99 per window  "
            + "  ".join(f"{start}s:{p99:.0f}" for start, p99 in self.windows)
            + " (ms)",
        ]
        if self.non_readers:
            when = (
                f", the first {self.first_close_after_s:.1f} s into the run"
                if self.first_close_after_s is not None
                else ""
            )
            lines.append(
                f"   server logged {self.slow_consumer_logs} slow-consumer closes (1008){when}; "
                f"non-readers seen from the client: {dict(self.outcomes)}"
            )
        return "\n".join(lines)


def fanout_server(prefix: str, size: int, **settings: str) -> TwistdServer:
    """A memory-store server in a new folder (``workdir``) for ``size``-byte fan-out runs.

    Cheap bcrypt, info logs (the slow-consumer lines are counted), no pings.
    """
    return TwistdServer(
        "memory:",
        tempfile.mkdtemp(prefix=prefix),
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="info",
        WS_PING_INTERVAL="0",
        MAX_MESSAGE_LENGTH=str(size + 100),
        **settings,
    )


async def run(reactor: Any, args: argparse.Namespace, non_readers: int, label: str) -> Result:
    """One run against a fresh server: connect, flood at a fixed rate, measure, tear down."""
    result = Result(label, args.sockets, non_readers)
    server = fanout_server("chat-slow-consumers-", args.size)
    stats = Stats()
    sockets: list[BenchSocket] = []
    try:
        with server:
            if args.pin:
                # One core each: the two processes never compete for a core.
                os.sched_setaffinity(server.pid, {0})
                os.sched_setaffinity(0, {1})
            tokens = [token for token, _ in server.register_users("user", USERS)]
            result.rss_idle_kb = rss_kb(server.pid)
            step = args.sockets // non_readers if non_readers else 0
            silent = {step // 2 + k * step for k in range(non_readers)}
            for start in range(0, args.sockets, CONNECT_BATCH):
                batch = []
                for index in range(start, min(start + CONNECT_BATCH, args.sockets)):
                    reader = index not in silent
                    sock = BenchSocket(stats, tokens[index % USERS], server.host, reader)
                    connect_socket(
                        reactor, server.port, sock, None if reader else NON_READER_RCVBUF
                    )
                    batch.append(sock)
                opened = DeferredList([s.opened for s in batch], fireOnOneErrback=True)
                await opened.addTimeout(30, reactor)
                sockets += batch
            for sock in sockets:
                if not sock.reader:
                    sock.stop_reading()
            await deferLater(reactor, 1.0, lambda: None)
            result.rss_start_kb = rss_kb(server.pid)
            peak = [result.rss_start_kb]
            sampler = LoopingCall(lambda: peak.append(rss_kb(server.pid)))
            sampler.clock = reactor
            sampler.start(0.5)
            senders = sockets[:SENDERS]
            padding = b"x" * (args.size - 40)
            turn = [0]

            def send(missed: int) -> None:
                for _ in range(missed):
                    senders[turn[0] % SENDERS].send_message(padding)
                    turn[0] += 1
                    stats.sent += 1

            sending = LoopingCall.withCount(send)
            sending.clock = reactor
            server_cpu = server.cpu_seconds()
            client_cpu = time.process_time()
            began = time.monotonic()
            began_wall = time.time()
            stats.began = time.perf_counter_ns() / 1e9
            sending.start(1.0 / args.rate)
            await deferLater(reactor, args.warmup, lambda: None)
            stats.measuring = True
            await deferLater(reactor, args.seconds, lambda: None)
            sending.stop()
            await deferLater(reactor, 2.0, lambda: None)  # the last deliveries
            stats.measuring = False
            elapsed = time.monotonic() - began
            result.server_cpu = (server.cpu_seconds() - server_cpu) / elapsed
            result.client_cpu = (time.process_time() - client_cpu) / elapsed
            await deferLater(reactor, 1.0, lambda: None)
            sampler.stop()
            result.rss_end_kb = rss_kb(server.pid)
            result.rss_peak_kb = max(peak)
            result.sent = stats.sent
            readers = [s for s in sockets if s.reader]
            result.min_received = min(s.received for s in readers)
            result.max_received = max(s.received for s in readers)
            ordered = sorted(stats.latencies_ms)
            result.windows = windowed_p99(stats, WINDOW_S)
            result.samples = len(ordered)
            if ordered:
                result.p50_ms = quantile(ordered, 0.50)
                result.p99_ms = quantile(ordered, 0.99)
                result.max_ms = ordered[-1]
            log = server.log_text()
            result.slow_consumer_logs = log.count(SLOW_CONSUMER_LOG)
            result.first_close_after_s = first_log_after(log, SLOW_CONSUMER_LOG, began_wall)
            # Let the non-readers read again: did the server end their connections?
            for sock in sockets:
                if not sock.reader:
                    sock.start_reading()
            await deferLater(reactor, 2.0, lambda: None)
            for sock in sockets:
                if sock.reader:
                    continue
                if sock.close_code is not None:
                    result.outcomes[f"close frame {sock.close_code}"] += 1
                elif sock.lost:
                    result.outcomes["connection reset, close frame lost with the buffers"] += 1
                else:
                    result.outcomes["still open"] += 1
            await close_all(reactor, sockets)
    finally:
        shutil.rmtree(server.workdir, ignore_errors=True)
    return result


def first_log_after(log: str, needle: str, began: float) -> float | None:
    """Seconds (to the second) from ``began`` (a wall time) to the first line with ``needle``."""
    for line in log.splitlines():
        if needle in line:
            try:
                when = datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S%z").timestamp()
            except ValueError:
                return None
            return when - began
    return None


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Alternate all-reading and 1%-not-reading runs; print each and the comparison."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * args.sockets + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the server inherits it
    non_readers = round(args.sockets * args.percent / 100)
    print(
        f"{args.sockets} sockets in one room, {SENDERS} of them sending {args.rate:g} msg/s "
        f"in total ({args.size}-byte messages) for {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up; {args.rounds} round(s) of both runs, alternating; "
        f"fd limit {wanted}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    baselines: list[Result] = []
    slows: list[Result] = []
    for n in range(1, args.rounds + 1):
        baselines.append(await run(reactor, args, 0, f"round {n}, all reading"))
        print(baselines[-1].report(), flush=True)
        slows.append(
            await run(reactor, args, non_readers, f"round {n}, {args.percent:g}% not reading")
        )
        print(slows[-1].report(), flush=True)

    # Medians over the rounds: a round disturbed by anything else on the
    # machine moves a mean, not a median.
    base_p99 = median(r.p99_ms for r in baselines)
    slow_p99 = median(r.p99_ms for r in slows)
    ratio = slow_p99 / base_p99
    per_round = ", ".join(
        f"{s.p99_ms / b.p99_ms:.2f}" for b, s in zip(baselines, slows, strict=True)
    )
    closed = sum(r.slow_consumer_logs for r in slows)
    everything = all(r.min_received == r.sent for r in baselines + slows)
    print(f"\nsummary over {args.rounds} round(s): medians of the rounds")
    for name, results in (("all reading", baselines), (f"{args.percent:g}% not reading", slows)):
        print(
            f"  {name:>16}: latency p50 {median(r.p50_ms for r in results):6.2f} ms  "
            f"p99 {median(r.p99_ms for r in results):6.2f} ms  "
            f"max {median(r.max_ms for r in results):6.2f} ms;  server RSS "
            f"start {median(r.rss_start_kb for r in results) / 1024:.1f} MiB  "
            f"peak {median(r.rss_peak_kb for r in results) / 1024:.1f} MiB  "
            f"end {median(r.rss_end_kb for r in results) / 1024:.1f} MiB"
        )
    print(
        f"  readers' p99 ratio {ratio:.2f} ({'within' if ratio <= 1.2 else 'NOT within'} 20%); "
        f"per round: {per_round}\n"
        f"  every reader received every message: {everything}\n"
        f"  non-readers closed by the server (1008 slow consumer): "
        f"{closed} of {non_readers * args.rounds}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--percent", type=float, default=1.0, help="share that does not read")
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second, in all")
    parser.add_argument("--size", type=int, default=3000, help="bytes of content per message")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs, alternating")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the server to CPU 0 and the load generator to CPU 1",
    )
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
