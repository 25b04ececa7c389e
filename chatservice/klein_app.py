"""The one Klein app that every REST route module registers its routes on, and their base.

Klein binds a route to the object it is read from (``api.app``), so route
methods may live on several classes that one ``ChatAPI`` inherits from:
each module keeps the routes of one concern, and all of them share one URL
map, one set of error handlers, and one resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from klein import Klein

if TYPE_CHECKING:
    from twisted.web.iweb import IRequest

    from chatservice.tokens import Identity

app = Klein()


class Routes:
    """The base of every route class: what ``ChatAPI`` provides to all of them.

    Declared once here so that a route module states only the use cases it
    calls; ``ChatAPI`` (``rest.py``) sets the body limit and authenticates.
    """

    _max_body: int

    async def _identity(self, request: IRequest) -> Identity:
        """The caller of ``request``, from its bearer token (``ChatAPI``'s)."""
        raise NotImplementedError
