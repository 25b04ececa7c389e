"""Nothing acknowledged is lost: SIGKILL ``twistd chat`` mid-traffic and audit.

On SQLite with one process, and with ``--workers 2`` on PostgreSQL and Redis
(one worker killed, or the supervisor). The scenario itself lives in
``tests.crashcheck``; ``bench/crash_test.py`` runs it with large numbers,
many times.
"""

from __future__ import annotations

import os
import random

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.crashcheck import (
    KILL_SUPERVISOR,
    KILL_WORKER,
    CrashResult,
    CrashSettings,
    Server,
    run_crash_scenario,
)
from tests.workers_support import REDIS_URL, SKIP, ScratchSchema

SMALL = {"clients": 3, "messages": 30, "window": 5, "resend_acked": 3}


class CrashChecks(TestCase):
    """Run the scenario and check its audit."""

    timeout = 90

    async def crash(self, settings: CrashSettings, **where: object) -> CrashResult:
        """Run once with a random seed (shown on failure); servers are killed at cleanup."""
        workdir = self.mktemp()
        os.makedirs(workdir)
        self.seed = random.randrange(2**32)

        def cleanup_later(server: Server) -> None:
            self.addCleanup(server.stop, "KILL")

        return await run_crash_scenario(
            reactor,
            workdir,
            settings,
            random.Random(self.seed),
            on_server=cleanup_later,
            **where,  # type: ignore[arg-type]
        )

    def assert_nothing_lost_or_doubled(self, result: CrashResult) -> None:
        """Every planned message acknowledged, stored once with its acknowledged id."""
        self.assertEqual(result.problems, [], f"seed {self.seed}: {result.summary()}")
        self.assertGreaterEqual(result.acked_before_kill, result.kill_after)
        self.assertEqual(result.acked, result.planned)
        self.assertEqual(result.found_once, result.planned)
        self.assertEqual((result.lost, result.duplicated, result.wrong_id), (0, 0, 0))
        self.assertEqual(result.history_rows, result.planned)


class CrashTests(CrashChecks):
    """A single server killed at a random moment keeps every message it acknowledged."""

    async def test_acknowledged_messages_survive_sigkill_exactly_once(self) -> None:
        """Acked messages are in history once with their ids; resends store nothing twice."""
        result = await self.crash(CrashSettings(**SMALL))  # type: ignore[arg-type]
        self.assert_nothing_lost_or_doubled(result)


class WorkersCrashTests(CrashChecks):
    """With --workers 2 on PostgreSQL: killing a worker or the supervisor loses nothing."""

    skip = SKIP

    async def crash_workers(self, kill: str) -> CrashResult:
        schema = ScratchSchema()
        schema.create()
        self.addCleanup(schema.drop)
        settings = CrashSettings(workers=2, kill=kill, **SMALL)
        return await self.crash(
            settings,
            database_url=schema.url,
            env={"REDIS_URL": REDIS_URL},
            on_started=lambda server: schema.spread_ids(),
        )

    async def test_killing_one_worker_loses_and_doubles_nothing(self) -> None:
        """SIGKILL to the worker of client 0: its clients resend; every ack is stored once."""
        result = await self.crash_workers(KILL_WORKER)
        self.assert_nothing_lost_or_doubled(result)

    async def test_killing_the_supervisor_loses_and_doubles_nothing(self) -> None:
        """SIGKILL to the supervisor: the workers drain and exit; every ack is stored once."""
        result = await self.crash_workers(KILL_SUPERVISOR)
        self.assert_nothing_lost_or_doubled(result)
