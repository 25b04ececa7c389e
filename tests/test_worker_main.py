"""A worker's side of ``--workers``: its spec, its lifeline, its tagged log lines."""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel, formatEventAsClassicLogText
from twisted.trial.unittest import SynchronousTestCase, TestCase

from chatservice.listening import AdoptedPort
from chatservice.worker_main import Lifeline, tag_events
from chatservice.workerspec import WorkerSpec, read_spec
from tests.fakes import config_for_tests


def a_spec() -> WorkerSpec:
    """A spec with every kind of setting (tuples, None, floats) and two sockets."""
    config = config_for_tests(
        workers=3,
        listen=("tcp:8081", r"tcp6:8082:interface=\:\:1"),
        redis_url="redis://:pw@127.0.0.1:6379/2",
        cors_origins=("https://a.example", "https://b.example"),
        shutdown_timeout=2.5,
    )
    ports = (
        AdoptedPort(3, socket.AF_INET, "tcp:8081"),
        AdoptedPort(4, socket.AF_INET6, r"tcp6:8082:interface=\:\:1"),
    )
    return WorkerSpec(2, config, ports, 5, reactor="poll")


class WorkerSpecTests(SynchronousTestCase):
    """The spec line carries the whole Config and the fd layout, and nothing else parses as one."""

    def test_round_trip(self) -> None:
        """Decoding what was encoded gives an equal spec (tuples stay tuples)."""
        spec = a_spec()
        line = spec.encode()
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(line.count(b"\n"), 1)
        self.assertEqual(WorkerSpec.decode(line), spec)

    def test_garbage_is_not_a_spec(self) -> None:
        """Anything else is a ValueError (a worker started by hand says so and exits)."""
        for line in (b"hello\n", b"{}\n", b'{"worker": 1}\n'):
            with self.assertRaises(ValueError):
                WorkerSpec.decode(line)

    def test_child_fds_put_sockets_from_3_and_the_status_pipe_after_them(self) -> None:
        """The worker's stdin is written, stdout/stderr read; sockets at 3, 4; status at 5."""
        self.assertEqual(
            WorkerSpec.child_fds([10, 11]), {0: "w", 1: "r", 2: "r", 3: 10, 4: 11, 5: "r"}
        )

    def test_read_spec_reads_one_line_from_a_pipe(self) -> None:
        """The worker reads its stdin until the newline; end of file first is a ValueError."""
        spec = a_spec()
        readable, writable = os.pipe()
        self.addCleanup(os.close, readable)
        os.write(writable, spec.encode())
        self.assertEqual(read_spec(readable), spec)
        os.close(writable)
        with self.assertRaises(ValueError):
            read_spec(readable)


class LifelineTests(TestCase):
    """The worker notices its supervisor's end of the pipe closing."""

    timeout = 10

    async def test_end_of_file_calls_back_once_and_data_does_not(self) -> None:
        """Bytes are ignored; closing the write end calls ``on_eof`` once and stops watching."""
        readable, writable = os.pipe()
        self.addCleanup(os.close, readable)
        calls: list[None] = []
        ended: Deferred[None] = Deferred()

        def on_eof() -> None:
            calls.append(None)
            ended.callback(None)

        lifeline = Lifeline(readable, on_eof)
        lifeline.start_reading(reactor)
        self.addCleanup(lifeline.stop_reading)
        os.write(writable, b"ignored")
        os.close(writable)
        await ended
        self.assertEqual(calls, [None])
        self.assertNotIn(lifeline, reactor.getReaders())


class TagEventsTests(SynchronousTestCase):
    """Each worker's text log lines say which worker wrote them."""

    def test_the_system_names_the_worker(self) -> None:
        """A namespaced event and a legacy one ("-") both get "worker N" in brackets."""
        seen: list[dict[str, Any]] = []
        observer = tag_events(seen.append, 2)  # type: ignore[arg-type]
        observer(
            {
                "log_format": "hello",
                "log_namespace": "chatservice.service",
                "log_level": LogLevel.info,
                "log_time": 0,
            }
        )
        observer({"log_format": "legacy", "log_system": "-", "log_time": 0})
        texts = [formatEventAsClassicLogText(event) or "" for event in seen]
        self.assertIn("[worker 2 chatservice.service#info] hello", texts[0])
        self.assertIn("[worker 2 -#-] legacy", texts[1])
