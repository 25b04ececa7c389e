"""Broadcast latency while bcrypt is busy: does hashing block the reactor?

Starts the service in this process (memory store, bcrypt cost 12 on its own
thread pool), connects two WebSocket clients to General, and has one send a
message every 20 ms while the other measures send-to-receive latency. After a
quiet baseline, it fires 20 concurrent logins (each ~0.2 s of bcrypt) and
keeps measuring. Prints latency percentiles for both phases.

    python bench/login_storm.py [--rounds 12] [--logins 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import deferLater, react

from chatservice.config import Config
from chatservice.service import ChatService
from chatservice.store.memory import MemoryStore

reactor: Any = _reactor
SECRET = "bench-secret-bench-secret-bench-secret!"


class Client(WebSocketClientProtocol):
    """Records when each probe message comes back."""

    factory: ClientFactory

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        frame = json.loads(payload)
        if frame.get("type") == "message":
            sent = float(frame["content"])
            self.factory.latencies.append((time.perf_counter() - sent) * 1000)


class ClientFactory(WebSocketClientFactory):
    """Holds what the probe clients report."""

    protocol = Client  # type: ignore[assignment]  # Factory types it loosely

    def __init__(self, url: str, token: str) -> None:
        super().__init__(url, headers={"Authorization": f"Bearer {token}"})
        self.opened: Deferred[Client] = Deferred()
        self.latencies: list[float] = []


async def connect(port: int, token: str) -> Client:
    factory = ClientFactory(f"ws://127.0.0.1:{port}/ws?roomId=1", token)
    await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
    client: Client = await factory.opened
    return client


async def probe(sender: Client, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sender.sendMessage(json.dumps({"content": repr(time.perf_counter())}).encode())
        await deferLater(reactor, 0.02, lambda: None)


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return (
        f"{name:<28} n={len(values):4d}  p50={p(0.5):6.2f} ms  p99={p(0.99):6.2f} ms  "
        f"max={values[-1]:6.2f} ms  mean={statistics.mean(values):6.2f} ms"
    )


async def start_service(rounds: int, **changes: Any) -> tuple[ChatService, int]:
    """Start the service in this process (memory store, bcrypt cost ``rounds``); and its port."""
    config = Config.defaults().replace(
        listen=("tcp:0:interface=127.0.0.1",),
        jwt_secret=SECRET,
        database_url="memory:",
        bcrypt_rounds=rounds,
        **changes,
    )
    service = ChatService(config, reactor, store=MemoryStore())
    service.startService()
    await service.ready
    return service, service.listening_ports[0].getHost().port  # type: ignore[attr-defined]


async def main(rounds: int, logins: int) -> None:
    service, port = await start_service(rounds)
    base = f"http://127.0.0.1:{port}"
    creds = {"username": "bench", "password": "correct-horse"}
    response = await treq.post(f"{base}/api/register", json=creds)
    token = (await response.json())["token"]
    sender = await connect(port, token)
    receiver = await connect(port, token)
    latencies = receiver.factory.latencies

    await probe(sender, 2.0)
    baseline = list(latencies)
    latencies.clear()

    started = time.perf_counter()
    login_times: list[float] = []

    async def login() -> None:
        t0 = time.perf_counter()
        r = await treq.post(f"{base}/api/login", json=creds)
        await r.content()
        assert r.code == 200, r.code
        login_times.append(time.perf_counter() - t0)

    storm = DeferredList([ensureDeferred(login()) for _ in range(logins)])
    await probe(sender, 0.5)
    while len(login_times) < logins:
        await probe(sender, 0.2)
    await storm
    storm_seconds = time.perf_counter() - started
    during = list(latencies)

    threads = service.config.bcrypt_threads
    print(f"bcrypt cost {rounds}, {logins} concurrent logins, threads={threads}")
    print(summary("broadcast, idle", baseline))
    print(summary("broadcast, during logins", during))
    print(
        f"{logins} logins finished in {storm_seconds:.2f} s "
        f"(slowest {max(login_times):.2f} s, fastest {min(login_times):.2f} s)"
    )
    sender.sendClose()
    receiver.sendClose()
    await service.stopService()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    react(lambda _reactor: Deferred.fromCoroutine(main(args.rounds, args.logins)))
