"""Crash test at scale: SIGKILL ``twistd chat`` on SQLite mid-traffic, many times.

Each run starts ``twistd -n chat`` on a fresh SQLite file, has ``--clients``
WebSocket clients send ``--messages`` messages each (unique
``client_msg_id``, up to ``--window`` unacknowledged per client), kills the
server with SIGKILL after a random number of acknowledgements, restarts it
on the same file, resends every unacknowledged message and audits the
history (see ``tests/crashcheck.py``). Prints one line per run and the
totals: messages acknowledged, found exactly once, lost, duplicated.

    PYTHONPATH=. python bench/crash_test.py [--runs 20] [--clients 8] [--messages 500]

Exits 1 if any run found a problem.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from tests.crashcheck import CrashResult, CrashSettings, run_crash_scenario

RUN_TIMEOUT = 120.0


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """Run the scenario ``args.runs`` times and print per-run and total results."""
    settings = CrashSettings(
        clients=args.clients,
        messages=args.messages,
        window=args.window,
        resend_acked=args.resend_acked,
    )
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    print(
        f"{args.runs} runs, {settings.clients} clients x {settings.messages} messages, "
        f"window {settings.window}, seed {seed}"
    )
    results: list[CrashResult] = []
    started = time.perf_counter()
    for run in range(1, args.runs + 1):
        workdir = tempfile.mkdtemp(prefix="chat-crash-", dir=args.dir)
        t0 = time.perf_counter()
        try:
            scenario = Deferred.fromCoroutine(
                run_crash_scenario(reactor, workdir, settings, random.Random(rng.random()))
            )
            scenario.addTimeout(RUN_TIMEOUT, reactor)
            result = await scenario
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results.append(result)
        verdict = "ok  " if result.ok else "FAIL"
        print(f"run {run:3d} {verdict} {time.perf_counter() - t0:5.1f} s  {result.summary()}")
        sys.stdout.flush()
    total = CrashResult()
    for name in (
        "planned",
        "acked_before_kill",
        "in_flight_at_kill",
        "stored_but_unacked",
        "acked",
        "found_once",
        "lost",
        "duplicated",
        "wrong_id",
        "resent_acked",
    ):
        setattr(total, name, sum(getattr(r, name) for r in results))
    failed = sum(1 for r in results if not r.ok)
    print(
        f"\ntotal over {len(results)} runs in {time.perf_counter() - started:.0f} s: "
        f"{failed} failed\n"
        f"  messages acknowledged      {total.acked} of {total.planned} "
        f"({total.acked_before_kill} before the kill)\n"
        f"  found exactly once         {total.found_once}\n"
        f"  lost                       {total.lost}\n"
        f"  duplicated                 {total.duplicated}\n"
        f"  acknowledged id changed    {total.wrong_id}\n"
        f"  in flight at the kill      {total.in_flight_at_kill} "
        f"({total.stored_but_unacked} of them committed but unacknowledged; "
        f"their resends stored nothing twice)\n"
        f"  acknowledged resends       {total.resent_acked} (each answered with its original id)"
    )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--resend-acked", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dir", default=None, help="where the SQLite files go")
    options = parser.parse_args()
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, options)))
