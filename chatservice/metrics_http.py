"""HTTP request metrics of the chat port: each request timed and labelled by its route template.

``MeasuredRoot`` wraps the service's root resource. A label must never be
the raw path (``/api/rooms/123`` would make one series per room, without
bound): the route is the template of the Klein rule that matched
(``/api/rooms/<int:room_id>``), found again from the mapper Klein left on
the request once the answer is finished, so no route has to know it is
measured. Everything else gets one of a few fixed labels, and the method
one of a fixed set, so the series stay bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from klein.interfaces import IKleinRequest
from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from zope.interface import implementer

from chatservice.metrics import HTTP_REQUEST_SECONDS, TIMER

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Routed by Klein, but no rule matched (a 404 or 405 of an unknown path).
UNMATCHED = "unmatched"
# A CORS preflight: answered before routing, whatever the path.
PREFLIGHT = "preflight"
# Never routed by Klein: the web client's files, and requests refused
# before routing (a URL that is not UTF-8, a declared body over the limit).
OTHER = "other"


def route_of(request: IRequest) -> str:
    """The route template that served ``request``, or one of the fixed labels above."""
    mapper = getattr(IKleinRequest(request, None), "mapper", None)
    if mapper is None:
        return PREFLIGHT if request.method == b"OPTIONS" else OTHER
    try:
        rule, _ = mapper.match(return_rule=True)
    except Exception:  # noqa: BLE001 - werkzeug's NotFound, MethodNotAllowed, redirects
        return UNMATCHED
    template: str = rule.rule
    return template


def method_of(request: IRequest) -> str:
    """The request's method, or ``other`` for one outside a fixed set."""
    method = request.method.decode("latin-1").upper()
    return method if method in METHODS else "other"


@implementer(IResource)
class MeasuredRoot:
    """A leaf resource that times and counts every request its inner leaf answers."""

    isLeaf = True

    def __init__(self, inner: IResource, timer: Callable[[], float] = TIMER) -> None:
        """Measure ``inner`` (the service's ``ApiRoot``, a leaf resource)."""
        self._inner = inner
        self._timer = timer

    def getChildWithDefault(self, name: bytes, request: IRequest) -> IResource:  # noqa: N802
        """Never called: this resource is a leaf."""
        return self

    def putChild(self, path: bytes, child: IResource) -> None:  # noqa: N802
        """Children are the inner resource's business."""
        self._inner.putChild(path, child)

    def render(self, request: IRequest) -> Any:
        """Render with the inner resource; observe the request once it is finished.

        A request whose connection is lost first (the client went away) is
        observed then, with the status it had.
        """
        # Before rendering: an answer finished within ``render`` (a
        # preflight) would never notify a later ``notifyFinish``.
        finished: Deferred[None] = request.notifyFinish()  # type: ignore[attr-defined]
        finished.addBoth(self._finished, request, self._timer())
        return self._inner.render(request)

    def _finished(self, _: object, request: IRequest, started: float) -> None:
        elapsed = self._timer() - started
        status = str(getattr(request, "code", 0))
        HTTP_REQUEST_SECONDS.labels(route_of(request), method_of(request), status).observe(elapsed)
