"""Metrics of ``twistd chat --workers 2``: the supervisor serves the sum of both workers.

Each worker writes its values to files of its own (prometheus_client's
multiprocess mode) in a directory the supervisor made; a scrape of the
supervisor's ``METRICS_LISTEN`` sums them. A killed worker's gauges leave
the sums at once, its counters stay in them. The per-message counters reach
the files at each worker's flush (``tally.FLUSH_SECONDS``), so the test
scrapes until they are there, within a bound (like ``wait_until_gone``).
"""

from __future__ import annotations

import os
import re
import signal
from functools import partial

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.tally import FLUSH_SECONDS
from tests.metrics_support import Samples, scrape, value
from tests.procsockets import owner
from tests.test_twistd import free_port, json_call, next_message
from tests.workers_support import (
    SKIP,
    WatchedTwistd,
    start_supervisor,
)
from tests.wsclient import RecordingClient, close_tcp, connect_tcp

MAX_TRIES = 30
_DIRECTORY = re.compile(rb"the workers write their metrics to (\S+)")


class WorkerMetricsTests(TestCase):
    """Two workers, one metrics endpoint: the supervisor's, with both workers' sums."""

    skip = SKIP
    timeout = 60

    async def start(self) -> WatchedTwistd:
        """Start the supervisor with METRICS_LISTEN on a scratch schema; wait until it serves."""
        self.port = free_port()
        metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        process, self.transport = await start_supervisor(
            self, self.port, METRICS_LISTEN=f"tcp:{metrics_port}:interface=127.0.0.1"
        )
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.call = partial(json_call, self.pool)
        return process

    async def scrape(self) -> Samples:
        """The supervisor's metrics."""
        code, _, samples = await scrape(self.metrics_url, self.pool)
        self.assertEqual(code, 200)
        return samples

    async def scrape_until(self, name: str, expected: float) -> Samples:
        """Scrape until ``name`` reads ``expected`` (after a flush); fail after a bound."""
        deadline = reactor.seconds() + 5 * FLUSH_SECONDS
        while True:
            samples = await self.scrape()
            if value(samples, name) == expected or reactor.seconds() > deadline:
                self.assertEqual(value(samples, name), expected, name)
                return samples
            await deferLater(reactor, FLUSH_SECONDS / 10, lambda: None)

    async def sockets_on_both_workers(
        self, process: WatchedTwistd
    ) -> tuple[dict[int, RecordingClient], dict[RecordingClient, int]]:
        """Register a user, make a room, open sockets until each worker holds one.

        Returns one socket per worker and the worker (pid) of every socket opened.
        """
        base = f"http://127.0.0.1:{self.port}"
        body = {"username": "alice", "password": "correct horse"}
        token = (await self.call("POST", f"{base}/api/register", body=body, expect=201))["token"]
        room = await self.call(
            "POST", f"{base}/api/rooms/create", token, {"name": "Lobby"}, expect=201
        )
        pids = process.worker_pids()
        by_worker: dict[int, RecordingClient] = {}
        held: dict[RecordingClient, int] = {}
        while len(by_worker) < 2 and len(held) < MAX_TRIES:
            headers = {"Authorization": f"Bearer {token}"}
            client = await connect_tcp(reactor, self.port, f"/ws?roomId={room['id']}", headers)
            self.addCleanup(close_tcp, client)
            assert client.transport is not None
            address = client.transport.getHost()
            assert isinstance(address, IPv4Address)
            pid = owner(self.port, address.port, pids.values())
            assert pid is not None
            held[client] = pid
            for worker, worker_pid in pids.items():
                if pid == worker_pid:
                    by_worker.setdefault(worker, client)
        self.assertEqual(len(by_worker), 2, f"workers {pids} held sockets as {held}")
        return by_worker, held

    async def test_the_supervisor_serves_the_sum_of_both_workers(self) -> None:
        """Messages from both workers add up; a killed worker's sockets leave the gauge."""
        process = await self.start()
        by_worker, held = await self.sockets_on_both_workers(process)
        before = await self.scrape()
        self.assertEqual(value(before, "chat_open_sockets"), len(held))
        # The room has sockets in both workers: each runs its fan-out.
        self.assertEqual(value(before, "chat_open_rooms"), 2)
        create = {"route": "/api/rooms/create", "method": "POST", "status": "201"}
        self.assertEqual(value(before, "chat_http_request_duration_seconds_count", **create), 1)

        for worker in (1, 2):
            by_worker[worker].send_json({"content": f"from worker {worker}"})
            for client in held:
                self.assertEqual((await next_message(client))["content"], f"from worker {worker}")
        after = await self.scrape_until("chat_post_to_delivery_seconds_count", 2)
        after = await self.scrape_until("chat_deliveries_total", 2 * len(held))
        self.assertEqual(value(after, "chat_messages_stored_total"), 2)
        # Every socket got both messages, through its own worker's fan-out.
        self.assertEqual(value(after, "chat_deliveries_total"), 2 * len(held))
        self.assertEqual(value(after, "chat_post_to_delivery_seconds_count"), 2)
        self.assertEqual(value(after, "chat_store_batch_size_messages_sum"), 2)

        killed = process.worker_pids()[1]
        mark = len(process.output)
        os.kill(killed, signal.SIGKILL)
        await process.wait_for(rb"worker 1 \(pid \d+\) killed by signal 9; restarting", mark)
        dead = await self.scrape()
        survivors = sum(1 for pid in held.values() if pid != killed)
        self.assertEqual(value(dead, "chat_open_sockets"), survivors)
        self.assertEqual(value(dead, "chat_open_rooms"), 1)
        # What the dead worker counted is still in the totals.
        self.assertEqual(value(dead, "chat_messages_stored_total"), 2)
        self.assertEqual(value(dead, "chat_deliveries_total"), 2 * len(held))

        await process.wait_for(rb"worker 1 \(pid \d+\) serves again", mark)
        found = _DIRECTORY.search(process.output)
        assert found is not None
        directory = found.group(1).decode()
        self.assertTrue(os.path.isdir(directory))
        self.transport.signalProcess("TERM")
        self.assertEqual(await process.ended, (None, signal.SIGTERM))
        self.assertFalse(os.path.exists(directory), "the supervisor removes the directory")
        self.assertNotIn(b"Traceback", process.output)
