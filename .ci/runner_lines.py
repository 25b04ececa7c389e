"""Keep a tool's own closing banner out of CI's output.

CI judges a run by its test runner's closing line. Schemathesis, which
``.ci/fuzz-api`` runs before the tests, ends in pytest's style
(``===== 1 warning in 60.01s =====``), and a reader of CI's output takes
such a banner for pytest's summary: one without "passed" reads as a run in
which no test was executed, although trial's ``tests: N passed, N failed,
N skipped`` comes after it. The banner stays in the fuzzing log; the output
carries ``schemathesis test cases: ...`` instead, which no runner prints.

Use: ``schemathesis run ... | python .ci/runner_lines.py``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator

# pytest's closing banner: "=== <counts or 'no tests ran'> in 1.23s ===".
CLOSING_BANNER = re.compile(r"^=+ .* in [0-9.]+m?s( \([0-9:]+\))? =+$")


def without_closing_banners(lines: Iterable[str]) -> Iterator[str]:
    """Every line but those a reader would take for pytest's closing line."""
    for line in lines:
        if not CLOSING_BANNER.match(line.rstrip("\n")):
            yield line


def main() -> None:
    """Copy standard input to standard output, line by line, less the banners."""
    for line in without_closing_banners(sys.stdin):
        sys.stdout.write(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
