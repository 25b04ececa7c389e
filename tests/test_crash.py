"""Nothing acknowledged is lost: SIGKILL ``twistd chat`` on SQLite mid-traffic and audit.

The scenario itself lives in ``tests.crashcheck``; ``bench/crash_test.py``
runs it with large numbers, many times.
"""

from __future__ import annotations

import os
import random

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.crashcheck import CrashSettings, Server, run_crash_scenario


class CrashTests(TestCase):
    """A server killed at a random moment keeps every message it acknowledged."""

    timeout = 90

    async def test_acknowledged_messages_survive_sigkill_exactly_once(self) -> None:
        """Acked messages are in history once with their ids; resends store nothing twice."""
        workdir = self.mktemp()
        os.makedirs(workdir)
        seed = random.randrange(2**32)

        def cleanup_later(server: Server) -> None:
            self.addCleanup(server.stop, "KILL")

        result = await run_crash_scenario(
            reactor,
            workdir,
            CrashSettings(clients=3, messages=30, window=5, resend_acked=3),
            random.Random(seed),
            on_server=cleanup_later,
        )
        self.assertEqual(result.problems, [], f"seed {seed}: {result.summary()}")
        self.assertGreaterEqual(result.acked_before_kill, result.kill_after)
        self.assertEqual(result.acked, result.planned)
        self.assertEqual(result.found_once, result.planned)
        self.assertEqual((result.lost, result.duplicated, result.wrong_id), (0, 0, 0))
        self.assertEqual(result.history_rows, result.planned)
