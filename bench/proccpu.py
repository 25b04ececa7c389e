"""CPU time of processes and of the whole machine, read from ``/proc`` (Linux).

For benchmarks that run several processes (a supervisor and its workers,
PostgreSQL, Redis) and must say where the CPU went, including to processes
that are not theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """User plus system time of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def named_ticks(names: tuple[str, ...]) -> int:
    """CPU ticks of every process whose command name is one of ``names`` (PostgreSQL, Redis)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in names:
                total += cpu_ticks(int(entry.name))
        except OSError:
            continue
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the workers of a supervisor)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return sorted(int(child) for child in text.split())
