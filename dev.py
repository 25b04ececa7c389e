#!/usr/bin/env python3
"""Set up and run chatservice from a clone, with nothing but Python 3.10+.

``python3 dev.py run`` and ``python3 dev.py test`` are the two commands of
the README. Each creates ``.venv`` on first use (and again whenever
``setup.py`` or ``pyproject.toml`` changed), installed the one way the
``twistd chat`` plugin can be found from a clone: editable in *compat* mode,
since Twisted scans real ``sys.path`` folders for ``twisted/plugins`` and the
default editable mode hides it behind an import hook. Standard library only:
it has to run before anything is installed.

``test`` ends with ``tests: N passed, N failed, N skipped`` (trial's own
summary, counted), which is what CI reads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".chatservice-installed"
INPUTS = (ROOT / "setup.py", ROOT / "pyproject.toml")
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _python() -> str:
    return str(BIN / "python")


def ensure_venv() -> None:
    """Create and install ``.venv`` unless it is already up to date."""
    if sys.version_info < (3, 10):  # noqa: UP036 - say so plainly on an old Python
        sys.exit("chatservice needs Python 3.10 or newer")
    newest_input = max(path.stat().st_mtime for path in INPUTS)
    if STAMP.exists() and STAMP.stat().st_mtime >= newest_input:
        return
    if not (BIN / "python").exists():
        print("== creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("== installing chatservice and its development tools into .venv", flush=True)
    pip = [_python(), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run(
        [*pip, "-e", ".[dev]", "--config-settings", "editable_mode=compat"],
        check=True,
        cwd=ROOT,
    )
    STAMP.touch()


def run(args: list[str]) -> int:
    """Run the service in the foreground (``twistd -n chat``), passing options on."""
    ensure_venv()
    command = [str(BIN / "twistd"), "-n", "--pidfile=", "chat", *args]
    try:
        return subprocess.run(command, cwd=os.getcwd()).returncode
    except KeyboardInterrupt:
        return 0


_SUMMARY = re.compile(rb"^(PASSED|FAILED) \((.*)\)\s*$", re.MULTILINE)


def count(trial_output: bytes) -> tuple[int, int, int]:
    """(passed, failed, skipped) from trial's closing ``PASSED (...)``/``FAILED (...)`` line."""
    found = _SUMMARY.findall(trial_output)
    if not found:
        return 0, 0, 0
    fields = dict(
        (key.strip().decode(), int(value))
        for key, value in (item.split(b"=") for item in found[-1][1].split(b","))
    )
    failed = sum(fields.get(k, 0) for k in ("failures", "errors", "unexpectedSuccesses"))
    return fields.get("successes", 0), failed, fields.get("skips", 0)


def test(args: list[str]) -> int:
    """Run the test suite (``python -m twisted.trial tests`` in .venv) and count it."""
    ensure_venv()
    command = [_python(), "-m", "twisted.trial", *(args or [*_jobs(), "tests"])]
    print("== " + " ".join(["python", *command[1:]]), flush=True)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = bytearray()
    for line in process.stdout:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
        output += line
    status = process.wait()
    passed, failed, skipped = count(bytes(output))
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    if passed == 0 and status == 0:
        print("no test ran", file=sys.stderr)
        return 1
    return status


def _jobs() -> list[str]:
    """``-j N``: the whole suite on up to 4 cores (it waits on sockets and disks too)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = min(4, cores or 1)
    return ["-j", str(jobs)] if jobs > 1 else []


def install(args: list[str]) -> int:
    """Only create and install ``.venv`` (what CI does before its linters)."""
    ensure_venv()
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``run``, ``test`` or ``venv`` (install only)."""
    commands: dict[str, Callable[[list[str]], int]] = {"run": run, "test": test, "venv": install}
    if not argv or argv[0] not in commands:
        print("usage: python3 dev.py run [twistd chat options] | test [trial args] | venv")
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
