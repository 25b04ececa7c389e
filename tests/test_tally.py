"""Hot-path tallies: what a flush moves into a metric is what observing directly would give."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from twisted.trial.unittest import SynchronousTestCase

from chatservice.tally import Spread, Tally, flush

BUCKETS = (0.001, 0.01, 0.1, 1.0)
VALUES = (0.0, 0.0005, 0.001, 0.0011, 0.01, 0.5, 1.0, 1.5, 99.0, 0.001)


def samples(registry: CollectorRegistry) -> list[str]:
    """The registry's exposition, less the creation time (which differs by construction)."""
    text = generate_latest(registry).decode("utf-8")
    return [line for line in text.splitlines() if "_created" not in line]


class TallyTests(SynchronousTestCase):
    """A Tally and a Spread against a Counter and a Histogram fed directly."""

    def test_a_spread_flushes_to_what_observe_gives(self) -> None:
        """Same buckets (bounds are inclusive), same sum, same count; twice over."""
        gathered, direct = CollectorRegistry(), CollectorRegistry()
        spread = Spread(Histogram("h", "h", registry=gathered, buckets=BUCKETS), BUCKETS)
        histogram = Histogram("h", "h", registry=direct, buckets=BUCKETS)
        for _ in range(2):
            for value in VALUES:
                spread.observe(value)
                histogram.observe(value)
            flush()
            self.assertEqual(samples(gathered), samples(direct))

    def test_a_tally_moves_only_what_was_added_since_the_last_flush(self) -> None:
        """Flushing twice does not count twice."""
        registry = CollectorRegistry()
        tally = Tally(Counter("c", "c", registry=registry))
        tally.add(3)
        tally.add()
        flush()
        flush()
        self.assertEqual(registry.get_sample_value("c_total"), 4)
        tally.add(2)
        flush()
        self.assertEqual(registry.get_sample_value("c_total"), 6)
