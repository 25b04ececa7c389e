"""The benchmarks still run: a seconds-long smoke of one, never a timed assertion."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from twisted.trial.unittest import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchSmokeTests(TestCase):
    """Benchmarks with tiny sizes print their numbers (what they are, is not checked)."""

    def test_hotpath_cpu_prints_cpu_per_message(self) -> None:
        """A round of a few messages through the real WebSocket path prints µs per message."""
        env = dict(os.environ, PYTHONPATH=ROOT)
        done = subprocess.run(
            [sys.executable, os.path.join("bench", "hotpath_cpu.py"), "--rounds", "1"]
            + ["--messages", "20"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout, r"^\d+(\.\d+)? us of CPU per message")
        self.assertGreater(float(re.split(r"\s", done.stdout)[0]), 0)

    def test_memory_gc_prints_a_pause_per_size(self) -> None:
        """``bench/memory_gc.py`` at two tiny sizes prints one line per size."""
        done = subprocess.run(
            [sys.executable, os.path.join("bench", "memory_gc.py"), "--sizes", "100,200"],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        self.assertEqual(len(lines), 2, done.stdout)
        for line, size in zip(lines, ("100", "200"), strict=True):
            self.assertRegex(line, rf"^\s*{size} messages: full collection\s+\d+\.\d ms")
