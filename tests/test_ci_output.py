"""CI's output names one test summary: trial's, counted by ``dev.py test``.

A reader of CI's output judges the run by a test runner's closing line.
Schemathesis runs first and closes in pytest's style; a banner such as
``=== 1 warning in 60.01s ===`` reads as a pytest run that executed no test,
and three stops were judged "ran no test" for it although every test ran.
``.ci/fuzz-api`` shows schemathesis' output through ``.ci/runner_lines.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
FILTER = ROOT / ".ci" / "runner_lines.py"

# The end of a real schemathesis 4 run, as CI printed it.
SCHEMATHESIS_TAIL = """\
Warnings:
  ⚠️ Missing test data: 2 operations repeatedly returned 404 responses

Test cases:
  4619 generated, 4619 passed, 13 skipped

Seed: 1

============================= 1 warning in 60.01s ==============================
"""

# What any pytest-style reader would take for a closing line.
PYTEST_CLOSING = re.compile(r"^=+ .*\bin [0-9.]+m?s\b.*=+$", re.MULTILINE)


def shown(text: str) -> str:
    """``text`` as CI shows it after the filter."""
    return subprocess.run(
        [sys.executable, str(FILTER)],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        encoding="utf-8",
    ).stdout


class RunnerLinesTests(SynchronousTestCase):
    """Schemathesis' closing banner is dropped; everything else passes through."""

    def test_the_closing_banner_is_dropped(self) -> None:
        """No line of the shown tail reads as pytest's closing line."""
        self.assertIsNotNone(PYTEST_CLOSING.search(SCHEMATHESIS_TAIL))
        self.assertIsNone(PYTEST_CLOSING.search(shown(SCHEMATHESIS_TAIL)))

    def test_every_other_line_is_kept_in_order(self) -> None:
        """Warnings, counts and section headings reach CI's output unchanged."""
        text = "=== WARNINGS ===\n" + SCHEMATHESIS_TAIL + "tests: 3 passed, 0 failed, 0 skipped\n"
        expected = "".join(line for line in text.splitlines(keepends=True) if "60.01s" not in line)
        self.assertEqual(shown(text), expected)

    def test_other_closing_banners_are_dropped_too(self) -> None:
        """Whatever the counts (passed, no tests ran, with minutes), the banner goes."""
        banners = [
            "=== 5 passed, 2 skipped in 1.20s ===",
            "=== no tests ran in 0.01s ===",
            "====== 3 passed in 61.23s (0:01:01) ======",
        ]
        self.assertEqual(shown("\n".join(banners) + "\n"), "")

    def test_fuzz_api_shows_schemathesis_through_the_filter(self) -> None:
        """The script CI runs pipes the time-boxed run through ``runner_lines.py``."""
        script = (ROOT / ".ci" / "fuzz-api").read_text(encoding="utf-8")
        run_lines = [
            line
            for line in script.splitlines()
            if line.startswith("fuzz --max-time") or line.startswith("fuzz --max-examples")
        ]
        self.assertEqual(len(run_lines), 1)
        self.assertIn('| python "$hooks_dir/runner_lines.py"', run_lines[0])
