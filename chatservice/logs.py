"""Log observers: LOG_LEVEL filtering, and text or JSON-lines output.

``twistd chat`` installs one with ``--logger``-like wiring in ``tap``; an
embedding application keeps its own logging.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    formatEventAsClassicLogText,
)

LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}


def _json_line(event: dict[str, Any]) -> str:
    record: dict[str, Any] = {
        "time": time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.gmtime(event.get("log_time", time.time()))
        ),
        "level": getattr(event.get("log_level"), "name", "info"),
        "namespace": event.get("log_namespace", ""),
        "message": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    return json.dumps(record, ensure_ascii=False) + "\n"


def make_observer(level: str, fmt: str, out: IO[str] | None = None) -> ILogObserver:
    """Return an observer writing events at ``level`` and above as text or JSON lines.

    Autobahn and twisted.web are held to warnings: they log every handshake
    and request at info.
    """
    stream = out if out is not None else sys.stdout
    if fmt == "json":
        base = FileLogObserver(stream, _json_line)
    else:
        base = FileLogObserver(stream, lambda e: formatEventAsClassicLogText(e) or "")
    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[level])
    for noisy in ("autobahn", "twisted.web", "txaio"):
        predicate.setLogLevelForNamespace(noisy, max(LEVELS[level], LogLevel.warn))
    return FilteringLogObserver(base, [predicate])


def twistd_log_stream(logfile: str | None, nodaemon: bool) -> IO[str]:
    """Where twistd would have logged: stdout with ``-n`` or ``--logfile=-``, else a file."""
    if logfile == "-" or (not logfile and nodaemon):
        return sys.stdout
    from twisted.python.logfile import LogFile

    stream: Any = LogFile.fromFullPath(logfile or "twistd.log")
    return stream  # type: ignore[no-any-return]
