"""Server memory during big uploads: a 1 GiB upload refused at the limit, 20 MiB accepted.

Starts ``twistd -n chat`` as a child process (SQLite, files in a local
directory), warms it up with one small upload, then streams, from a plain
blocking socket:

1. a 1 GiB body with ``Content-Length`` (refused from its head),
2. a 1 GiB chunked body (refused once past ``MAX_UPLOAD_BYTES``, 25 MiB),
3. a 20 MiB file (accepted, stored, downloaded back and compared).

For each, prints the server's resident set (VmRSS) before and after and the
peak (VmHWM, the high-water mark since start), and how many bytes the client
got to send before the answer. The claim is that the server's memory grows
by less than 16 MiB in every case: bodies go to temporary files, files are
copied a block at a time, downloads are streamed by a producer.

    python bench/upload_rss.py
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import select
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.twistd_server import TwistdServer  # noqa: E402

MIB = 2**20
BLOCK = 256 * 1024


def memory(pid: int) -> tuple[int, int]:
    """The process's VmRSS and VmHWM, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def stream(host: str, port: int, token: str, size: int, chunked: bool) -> tuple[int, bytes]:
    """Send an upload of ``size`` zero bytes until the server answers; bytes sent, answer."""
    sock = socket.create_connection((host, port))
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST /api/uploads?name=big.bin HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        f"{length}\r\n\r\n"
    ).encode("ascii")
    sock.sendall(head)
    block = b"\0" * BLOCK
    sent = 0
    answer = b""
    sock.setblocking(False)
    while sent < size:
        readable, writable, _ = select.select([sock], [sock], [], 5.0)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionError:
                data = b""
            answer += data
            if not data or b"\r\n\r\n" in answer:
                break
        if writable:
            data = b"%x\r\n%s\r\n" % (BLOCK, block) if chunked else block
            try:
                sock.send(data)  # may be partial: only the count matters here
            except (BlockingIOError, ConnectionError):
                continue
            sent += BLOCK
    sock.setblocking(True)
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (OSError, TimeoutError):
        pass
    sock.close()
    return sent, answer.split(b"\r\n", 1)[0]


def upload(host: str, token: str, data: bytes) -> dict[str, object]:
    """A raw upload over http.client; the Upload object."""
    conn = http.client.HTTPConnection(host, timeout=120)
    conn.request(
        "POST",
        "/api/uploads?name=file.bin",
        body=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    if response.status != 201:
        raise RuntimeError(f"upload: {response.status} {body}")
    conn.close()
    return dict(body)


def download_digest(host: str, token: str, upload_id: object) -> str:
    """Download a file in blocks; its SHA-256."""
    conn = http.client.HTTPConnection(host, timeout=120)
    conn.request("GET", f"/api/files/{upload_id}", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    digest = hashlib.sha256()
    while block := response.read(BLOCK):
        digest.update(block)
    conn.close()
    return digest.hexdigest()


def report(label: str, pid: int, before: tuple[int, int], extra: str = "") -> int:
    """Print one line; return the growth of the peak in bytes."""
    after = memory(pid)
    growth = max(after[1] - before[1], after[0] - before[0])
    print(
        f"{label:<34} RSS {before[0] / MIB:7.1f} -> {after[0] / MIB:7.1f} MiB, "
        f"peak {before[1] / MIB:7.1f} -> {after[1] / MIB:7.1f} MiB "
        f"(growth {growth / MIB:5.1f} MiB) {extra}"
    )
    return growth


def main() -> int:
    """Run the three uploads; exit 1 if any grew the server by 16 MiB or more."""
    with tempfile.TemporaryDirectory(prefix="upload-rss-") as workdir:
        database = f"sqlite:///{workdir}/chat.sqlite3"
        with TwistdServer(database, workdir, UPLOAD_RATE="1000") as server:
            ((token, _),) = server.register_users("rss", 1)
            upload(server.host, token, os.urandom(MIB))  # warm up every code path once
            growths = []
            for label, chunked in (("1 GiB, Content-Length", False), ("1 GiB, chunked", True)):
                before = memory(server.pid)
                sent, status = stream("127.0.0.1", server.port, token, 2**30, chunked=chunked)
                said = f"{status.decode()!r} after {sent / MIB:.1f} MiB sent"
                growths.append(report(label, server.pid, before, said))
            data = os.urandom(20 * MIB)
            before = memory(server.pid)
            started = time.monotonic()
            stored = upload(server.host, token, data)
            took = time.monotonic() - started
            growths.append(report("20 MiB, accepted", server.pid, before, f"201 in {took:.2f} s"))
            before = memory(server.pid)
            same = (
                download_digest(server.host, token, stored["id"])
                == hashlib.sha256(data).hexdigest()
            )
            growths.append(report("20 MiB, downloaded", server.pid, before, f"identical: {same}"))
    worst = max(growths)
    print(f"largest growth: {worst / MIB:.1f} MiB (bound: 16 MiB)")
    return 0 if worst < 16 * MIB else 1


if __name__ == "__main__":
    sys.exit(main())
