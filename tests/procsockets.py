"""Which process holds the server end of a TCP connection, read from ``/proc`` (Linux).

Workers of ``twistd chat --workers`` share one listening socket, so nothing
on the wire says which of them accepted a connection. The kernel knows: the
accepted socket is a file descriptor of exactly one worker. A connection is
found in ``/proc/net/tcp`` (or ``tcp6``) by its two ports, which gives its
socket inode; the worker whose ``/proc/<pid>/fd`` links to ``socket:[inode]``
holds it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

AVAILABLE = Path("/proc/net/tcp").exists()
ESTABLISHED = "01"


def connection_inodes(server_port: int) -> dict[int, int]:
    """Client port -> inode of the server's socket, for every connection to ``server_port``."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == server_port and fields[3] == ESTABLISHED:
                found[int(fields[2].rsplit(":", 1)[1], 16)] = int(fields[9])
    return found


def socket_inodes(pid: int) -> set[int]:
    """The inodes of every socket ``pid`` has open (empty if it is gone)."""
    inodes = set()
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return set()
    for name in names:
        try:
            target = os.readlink(f"{folder}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def owners(server_port: int, client_ports: Iterable[int], pids: Iterable[int]) -> dict[int, int]:
    """Client port -> the pid among ``pids`` holding the server end, for those held by one."""
    inodes = connection_inodes(server_port)
    held = {pid: socket_inodes(pid) for pid in pids}
    found = {}
    for client_port in client_ports:
        inode = inodes.get(client_port)
        for pid, pid_inodes in held.items():
            if inode is not None and inode in pid_inodes:
                found[client_port] = pid
    return found


def owner(server_port: int, client_port: int, pids: Iterable[int]) -> int | None:
    """The pid among ``pids`` that holds the server end of one connection, if any does."""
    return owners(server_port, [client_port], pids).get(client_port)


def is_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
