"""Take what start-up built out of the cycle collector's full walks.

Why: CPython's generation-2 collection walks every tracked object in the
process, in the reactor thread, while every socket waits. A started service
holds about 80,000 of them that never die (modules, classes, functions,
Twisted's, Autobahn's and Klein's tables), so each full collection under
load paused delivery for tens of milliseconds whatever the store
(bench/RESULTS.md, S2's p99). ``gc.freeze()`` moves them to a permanent
generation that collections no longer walk; objects made later are
collected as before.

Only processes the service owns call this (``twistd chat`` and each of its
workers, once serving): an application that embeds the service owns its
heap, and may call it itself when its own start-up is done. A frozen object
that later becomes part of a garbage cycle is not reclaimed, which is why
this runs once, after start-up, and not on what the service makes as it
runs.
"""

from __future__ import annotations

import gc


def freeze_startup_heap(result: object = None) -> object:
    """Collect once, then freeze every surviving object; passes ``result`` through.

    Shaped as a Deferred callback, for ``service.ready``.
    """
    gc.collect()
    gc.freeze()
    return result
