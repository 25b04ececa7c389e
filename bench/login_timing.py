"""Login timing: does an unknown username answer as slowly as a wrong password?

API.md promises "the same body and comparable timing for both", so that
response time does not tell an attacker which usernames exist. This starts
the real service in this process (memory store, real bcrypt at the given
cost on its own thread pool, a real TCP port), registers one user, then sends
sequential logins over HTTP, alternating an unknown username and a wrong
password for the real one, and prints mean, p50 and p95 of each and their
ratio. One login of each kind is sent first and not counted (the unknown-user
path computes its dummy hash on first use).

    python bench/login_timing.py [--rounds 12] [--count 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import treq
from twisted.internet.defer import Deferred
from twisted.internet.task import react

from bench.login_storm import start_service

PASSWORD = "correct-horse-battery"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(name: str, values: list[float]) -> str:
    """One line: count, mean, p50 and p95 in milliseconds."""
    return (
        f"{name:<16} n={len(values):3d}  mean={statistics.mean(values):7.1f} ms  "
        f"p50={percentile(values, 0.5):7.1f} ms  p95={percentile(values, 0.95):7.1f} ms"
    )


async def main(rounds: int, count: int) -> None:
    # Every attempt here fails on purpose: lift the failed-login limit.
    service, port = await start_service(rounds, login_failure_limit=1_000_000)
    base = f"http://127.0.0.1:{port}"
    response = await treq.post(
        f"{base}/api/register", json={"username": "bench", "password": PASSWORD}
    )
    assert response.code == 201, response.code
    await response.content()

    async def login(username: str, password: str) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        reply = await treq.post(
            f"{base}/api/login", json={"username": username, "password": password}
        )
        body: bytes = await reply.content()
        return (time.perf_counter() - started) * 1000, reply.code, body

    kinds = {
        "unknown user": ("nobody-here", PASSWORD),
        "wrong password": ("bench", "wrong-horse-battery"),
    }
    for username, password in kinds.values():  # warm-up, not counted
        await login(username, password)
    times: dict[str, list[float]] = {name: [] for name in kinds}
    answers: dict[str, set[tuple[int, bytes]]] = {name: set() for name in kinds}
    for _ in range(count):
        for name, (username, password) in kinds.items():
            elapsed, code, body = await login(username, password)
            times[name].append(elapsed)
            answers[name].add((code, body))

    print(f"bcrypt cost {rounds}, {count} logins of each kind, interleaved, sequential")
    for name, values in times.items():
        print(describe(name, values))
    unknown, wrong = times["unknown user"], times["wrong password"]
    print(
        f"ratio unknown/wrong: mean {statistics.mean(unknown) / statistics.mean(wrong):.3f}  "
        f"p50 {percentile(unknown, 0.5) / percentile(wrong, 0.5):.3f}  "
        f"p95 {percentile(unknown, 0.95) / percentile(wrong, 0.95):.3f}"
    )
    same = (
        answers["unknown user"] == answers["wrong password"]
        and len(answers["wrong password"]) == 1
    )
    print(f"identical status and body for both: {same}  {sorted(answers['wrong password'])}")
    await service.stopService()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    react(lambda _reactor: Deferred.fromCoroutine(main(args.rounds, args.count)))
