"""The one Klein app that every REST route module registers its routes on.

Klein binds a route to the object it is read from (``api.app``), so route
methods may live on several classes that one ``ChatAPI`` inherits from:
each module keeps the routes of one concern, and all of them share one URL
map, one set of error handlers, and one resource.
"""

from __future__ import annotations

from klein import Klein

app = Klein()
