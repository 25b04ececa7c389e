"""Flood: who is closed as a slow consumer when 30 sockets flood a room and read it all?

The black-box flood of issue 8: ``--flooders`` sockets in one room each send
``--rate`` messages per second for ``--seconds`` seconds and read everything
the room sends them, while one more socket stops reading as soon as it is
open. ``--busy`` processes spin meanwhile, so that the two cores are busy
and the readers fall up to a second behind now and then (their delivery
latency is printed, per 2-second window); the question is whether the
server tells a reader that is behind from one that stopped. What should
hold: the one that stopped is closed (1008 "slow consumer"), none of the
flooders is. Without ``--busy`` this machine keeps up at 90 msg/s (nobody
lags); from about 150 msg/s the load generator cannot parse what it receives
(30 x 4,500 frames/s), its lag grows without bound and the hard cap rightly
closes the flooders too.

One run against a fresh ``twistd -n chat`` child (``memory:`` store, abuse
limits lifted, pings off so that only the slow-consumer rule can close a
socket, ``WS_MAX_BUFFER`` as given). The load generator and its sockets are
``bench/slow_consumers.py``'s; nothing is pinned to a core, as in the
black-box test. The stopped reader seldom sees its close frame (it is lost
with the kernel buffers when the server drops the connection), so its close
is counted from the server's log. Bounded: it sends for ``--seconds``, then
waits at most ``--drain`` seconds for the readers to catch up, then closes
everything and kills the spinning processes.

    PYTHONPATH=. python bench/flood.py [--flooders 30] [--rate 90] [--size 1000]
        [--seconds 20] [--drain 20] [--busy 3] [--ws-max-buffer 1048576]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall, deferLater, react

from bench.rawws import close_all
from bench.slow_consumers import (
    CLOSE_POLICY_VIOLATION,
    NON_READER_RCVBUF,
    SLOW_CONSUMER_LOG,
    BenchSocket,
    Stats,
    connect_socket,
    fanout_server,
    quantile,
    rss_kb,
    windowed_p99,
)

USERS = 10


def close_times(log: str, began: float) -> list[int]:
    """Whole seconds from ``began`` (a wall time) to each slow-consumer close the server logged."""
    times = []
    for line in log.splitlines():
        if SLOW_CONSUMER_LOG in line:
            when = datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S%z").timestamp()
            times.append(int(when - began))
    return times


def outcome(sock: BenchSocket) -> str:
    """How the server ended (or did not end) one socket, as the client saw it."""
    if sock.close_code == CLOSE_POLICY_VIOLATION:
        return "closed 1008"
    if sock.close_code is not None:
        return f"closed {sock.close_code}"
    return "connection lost, no close frame" if sock.lost else "open"


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """One flood; print the flooders' lag, the server's memory and who was closed."""
    server = fanout_server("chat-flood-", args.size, WS_MAX_BUFFER=str(args.ws_max_buffer))
    stats = Stats()
    sockets: list[BenchSocket] = []
    burners: list[subprocess.Popen[bytes]] = []
    try:
        with server:
            tokens = [token for token, _ in server.register_users("user", USERS)]
            for index in range(args.flooders + 1):
                reader = index < args.flooders
                sock = BenchSocket(stats, tokens[index % USERS], server.host, reader)
                connect_socket(reactor, server.port, sock, None if reader else NON_READER_RCVBUF)
                sockets.append(sock)
            await DeferredList([s.opened for s in sockets], fireOnOneErrback=True).addTimeout(
                30, reactor
            )
            flooders, stopped = sockets[:-1], sockets[-1]
            stopped.stop_reading()
            # Busy cores: processes that only spin, at the same priority.
            burners += [
                subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)
            ]
            padding = b"x" * (args.size - 40)

            def send() -> None:
                for sock in flooders:
                    if not sock.lost:
                        sock.send_message(padding)
                        stats.sent += 1

            sending = LoopingCall(send)
            sending.clock = reactor
            peak_rss = [rss_kb(server.pid)]
            sampler = LoopingCall(lambda: peak_rss.append(rss_kb(server.pid)))
            sampler.clock = reactor
            sampler.start(0.5)
            server_cpu = server.cpu_seconds()
            began_wall = time.time()
            began = time.monotonic()
            stats.began = time.perf_counter_ns() / 1e9
            stats.measuring = True
            sending.start(1.0 / args.rate)
            await deferLater(reactor, args.seconds, lambda: None)
            sending.stop()
            sent_for = time.monotonic() - began
            cpu = (server.cpu_seconds() - server_cpu) / sent_for
            # Let the readers that are still open catch up, within --drain.
            deadline = time.monotonic() + args.drain
            while time.monotonic() < deadline and any(
                s.received < stats.sent and not s.lost for s in flooders
            ):
                await deferLater(reactor, 0.2, lambda: None)
            drained_after = time.monotonic() - began - sent_for
            stats.measuring = False
            sampler.stop()
            # The stopped reader reads again: did the server close it?
            stopped.start_reading()
            await deferLater(reactor, 2.0, lambda: None)
            log = server.log_text()

            latencies = sorted(stats.latencies_ms)
            open_flooders = [s for s in flooders if not s.lost]
            outcomes = Counter(outcome(s) for s in flooders)
            print(
                f"{args.flooders} flooders x {args.rate:g} msg/s x {args.size} B for "
                f"{args.seconds:g} s, each reading the room, + 1 socket that stops reading; "
                f"{args.busy} spinning processes; WS_MAX_BUFFER {args.ws_max_buffer}"
            )
            print(
                f"  sent {stats.sent} messages ({stats.sent / sent_for:.0f}/s); server CPU "
                f"{100 * cpu:.0f}% of a core; peak RSS {max(peak_rss) / 1024:.1f} MiB"
            )
            if latencies:
                print(
                    f"  delivery latency p50 {quantile(latencies, 0.5):.0f} ms  "
                    f"p99 {quantile(latencies, 0.99):.0f} ms  max {latencies[-1]:.0f} ms  "
                    f"(n={len(latencies)})"
                )
                print(
                    "  p99 per 2 s window  "
                    + "  ".join(f"{at}s:{p99:.0f}" for at, p99 in windowed_p99(stats, 2.0))
                    + " (ms)"
                )
            received = [s.received for s in open_flooders]
            if received:
                print(
                    f"  open flooders received {min(received)}..{max(received)} of "
                    f"{stats.sent} ({drained_after:.1f} s after sending stopped)"
                )
            closes = close_times(log, began_wall)
            print(
                f"  server logged {len(closes)} slow-consumer closes (1008), "
                f"at seconds {dict(sorted(Counter(closes).items()))}"
            )
            print(f"  flooders: {dict(outcomes)}")
            print(f"  the socket that stopped reading: {outcome(stopped)}")
            print(
                f"  RESULT flooders closed as slow consumers: "
                f"{outcomes['closed 1008']} of {args.flooders}; stopped reader closed: "
                f"{len(closes) > outcomes['closed 1008'] and outcome(stopped) != 'open'}"
            )
            await close_all(reactor, sockets)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        shutil.rmtree(server.workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flooders", type=int, default=30)
    parser.add_argument("--rate", type=float, default=90.0, help="messages/s per flooder")
    parser.add_argument("--size", type=int, default=1000, help="bytes of content per message")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long they send")
    parser.add_argument("--drain", type=float, default=20.0, help="most seconds to catch up")
    parser.add_argument("--busy", type=int, default=3, help="processes that spin meanwhile")
    parser.add_argument("--ws-max-buffer", type=int, default=1024 * 1024)
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
