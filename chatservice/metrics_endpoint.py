"""The metrics endpoint: ``/metrics`` in Prometheus's text format, on a port of its own.

It is never served on the chat port: metrics say how busy every room is
and are for the operator's scraper, which ``METRICS_LISTEN`` lets bind to
a private interface (``tcp:9100:interface=127.0.0.1``).

One process (``twistd chat``, or an embedding application's ChatService)
serves its own ``metrics.REGISTRY``. Under ``twistd chat --workers N`` the
workers are separate processes, so the supervisor serves instead:
``PoolMetrics`` makes a scratch directory, hands it to every worker as
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode: each
worker writes its values to memory-mapped files of its own there), sums
the files at each scrape (``MultiProcessCollector``), drops a dead worker's
gauges (``mark_process_dead``) while its counters and histograms stay in
the sums, and removes the directory when the pool stops. The workers
themselves serve no metrics.

The exposition is prometheus_client's WSGI app (content negotiation,
OpenMetrics, gzip) in a ``WSGIResource``, which is what
``prometheus_client.twisted.MetricsResource`` builds too; that helper is
bound to the global reactor at import time, so the same two lines are
written here with the service's own reactor. A scrape runs on the
reactor's thread pool, off the reactor thread.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.web.resource import NoResource, Resource
from twisted.web.server import Site
from twisted.web.wsgi import WSGIResource

from chatservice.tally import flush

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_log = Logger(namespace="chatservice.metrics")


class _Root(Resource):
    """``/metrics`` and nothing else: every other path is a 404."""

    def getChild(self, path: bytes, request: Any) -> Resource:  # noqa: N802 - Twisted hook
        """Any child but ``metrics`` (registered with ``putChild``) is not found."""
        return NoResource()

    def render(self, request: Any) -> bytes:
        """The root itself is not found either."""
        page: bytes = NoResource().render(request)
        return page


def exposition_site(reactor: Any, registry: CollectorRegistry) -> Site:
    """A ``Site`` serving ``registry`` at ``/metrics`` (and a 404 elsewhere)."""
    root = _Root()
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        # The registry's own flusher is skipped when a scrape asks for some
        # names only (``?name[]=``): the hot-path tallies are moved here too.
        flush()
        return exposition(environ, start_response)

    root.putChild(b"metrics", WSGIResource(reactor, reactor.getThreadPool(), app))
    site = Site(root, reactor=reactor)
    # A scrape every few seconds would fill the log.
    site.log = lambda request: None  # type: ignore[method-assign]
    return site


async def listen_metrics(
    reactor: Any, description: str, registry: CollectorRegistry
) -> IListeningPort:
    """Serve ``registry`` on the endpoint ``description``; fires with the listening port."""
    port: IListeningPort = await serverFromString(reactor, description).listen(
        exposition_site(reactor, registry)
    )
    address = port.getHost()
    _log.info(
        "serving metrics at /metrics on {description} (port {port})",
        description=description,
        port=getattr(address, "port", address),
    )
    return port


class PoolMetrics:
    """The supervisor's side of the workers' metrics: their directory and its endpoint."""

    def __init__(self, reactor: Any, description: str) -> None:
        """Prepare to serve the workers' sums on ``description``; ``start`` makes the directory."""
        self._reactor = reactor
        self._description = description
        self.directory: str | None = None
        self.port: IListeningPort | None = None

    async def start(self) -> None:
        """Make the directory and listen (before any worker starts)."""
        self.directory = tempfile.mkdtemp(prefix="chatservice-metrics-")
        _log.info("the workers write their metrics to {directory}", directory=self.directory)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        self.port = await listen_metrics(self._reactor, self._description, registry)

    def worker_environment(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the directory a worker writes its values to (set before it imports)."""
        if self.directory is not None:
            env[MULTIPROC_ENV] = self.directory
        else:
            env.pop(MULTIPROC_ENV, None)
        return env

    def worker_ended(self, pid: int | None) -> None:
        """Drop a dead worker's gauges from the sums (its counters stay)."""
        if pid is not None and self.directory is not None:
            mark_process_dead(pid, self.directory)

    async def stop(self) -> None:
        """Stop listening and remove the directory."""
        if self.port is not None:
            port, self.port = self.port, None
            stopping = port.stopListening()
            if stopping is not None:
                await stopping
        if self.directory is not None:
            directory, self.directory = self.directory, None
            shutil.rmtree(directory, ignore_errors=True)
