"""CPU time of processes and of the whole machine, read from ``/proc`` (Linux).

For benchmarks that run several processes (a supervisor and its workers,
PostgreSQL, Redis) and must say where the CPU went, including to processes
that are not theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int, thread: int | None = None) -> int:
    """User plus system time of a process, or of one of its threads, in clock ticks.

    0 once it is gone.
    """
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def snapshot() -> dict[int, tuple[str, int]]:
    """Every process's command name and CPU ticks, by pid."""
    found: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        found[int(entry.name)] = (name, cpu_ticks(int(entry.name)))
    return found


def ticks_between(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]
) -> dict[int, tuple[str, int]]:
    """Each process's ticks from one snapshot to the next (a new process: all of its ticks)."""
    return {
        pid: (name, ticks - before.get(pid, (name, 0))[1]) for pid, (name, ticks) in after.items()
    }


def machine_ticks() -> tuple[int, int, int]:
    """(busy, interrupts, total) clock ticks of all cores, from ``/proc/stat``.

    Interrupt time (irq and softirq: the kernel moving loopback packets,
    mostly) is busy time no process is charged with.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, values[5] + values[6], sum(values)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the workers of a supervisor)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return sorted(int(child) for child in text.split())
