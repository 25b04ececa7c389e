"""Hot-path counts that cost an addition, moved into their Prometheus metrics later.

prometheus_client takes a lock per update, and a histogram's ``observe``
walks its buckets in Python: on this machine a ``Counter.inc`` costs about
1 us and a ``Histogram.observe`` about 3 us, which for the five series
updated once per message (or once per batch, which is once per message at
light load) was ~8 us of a ~175 us message (``bench/hotpath_cpu.py``). So
those five are a ``Tally`` or a ``Spread`` here: a plain number, or bucket
counts found with ``bisect`` (C), updated from the reactor thread only.

``flush()`` moves what they gathered since the last flush into the real
metrics, which are what the registry serves and what multiprocess mode
writes to its files: the exposition flushes before each scrape (so a
scrape is exact), and a worker of ``twistd chat --workers`` flushes every
``FLUSH_SECONDS`` (``worker_main``), so its supervisor's sums lag by at most
that much. A flush only reads the gatherers, so a scrape thread flushing
while the reactor thread adds loses nothing; one lock keeps two scrapes
from moving the same counts twice.

A ``Spread`` writes into its histogram's per-bucket values (the
``_buckets`` and ``_sum`` prometheus_client has kept since its early
releases): the public API only observes one value at a time, which is the
cost this module exists to avoid. ``tests/test_tally.py`` checks the result
against ``observe`` so an upgrade that changes them is caught.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import Counter, Histogram

FLUSH_SECONDS = 1.0

_gatherers: list[Tally | Spread] = []
_lock = threading.Lock()


class Tally:
    """A counter for the hot path: ``add`` is one addition to ``value``."""

    __slots__ = ("_counter", "_flushed", "value")

    def __init__(self, counter: Counter) -> None:
        """Gather for ``counter`` (an unlabelled Counter)."""
        self._counter = counter
        self._flushed = 0
        self.value = 0
        _gatherers.append(self)

    def add(self, amount: int = 1) -> None:
        """Count ``amount`` more (never negative)."""
        self.value += amount

    def flush(self) -> None:
        """Move what was added since the last flush into the counter."""
        value = self.value
        if value != self._flushed:
            self._counter.inc(value - self._flushed)
            self._flushed = value


class Spread:
    """A histogram for the hot path: ``observe`` is a bisect and two additions."""

    __slots__ = ("_bounds", "_flushed_counts", "_flushed_total", "_histogram", "counts", "total")

    def __init__(self, histogram: Histogram, buckets: Sequence[float]) -> None:
        """Gather for ``histogram``, built with the same finite ``buckets``."""
        self._histogram = histogram
        self._bounds = [float(bound) for bound in buckets if not math.isinf(bound)]
        # One count per finite bucket, and the last one for +Inf, as the histogram keeps them.
        self.counts = [0] * (len(self._bounds) + 1)
        self.total = 0.0
        self._flushed_counts = [0] * len(self.counts)
        self._flushed_total = 0.0
        _gatherers.append(self)

    def observe(self, value: float) -> None:
        """Count one observation of ``value`` in the first bucket whose bound it does not pass."""
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        """Move the observations since the last flush into the histogram."""
        buckets = self._histogram._buckets
        for index, count in enumerate(self.counts):
            moved = count - self._flushed_counts[index]
            if moved:
                buckets[index].inc(moved)
                self._flushed_counts[index] = count
        total = self.total
        if total != self._flushed_total:
            self._histogram._sum.inc(total - self._flushed_total)
            self._flushed_total = total


def flush() -> None:
    """Move every gatherer's counts into its metric (any thread; one flush at a time)."""
    with _lock:
        for gatherer in _gatherers:
            gatherer.flush()
