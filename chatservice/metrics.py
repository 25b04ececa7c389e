"""Every Prometheus metric of the service, defined once, with where it is counted.

The metrics live in one registry of our own (``REGISTRY``), not in
prometheus_client's global one, so that embedding the service never mixes
our series into a host application's (or the other way round); the host
can still serve ours by adding ``REGISTRY`` to its own exposition.

They are module-level objects, as prometheus_client intends: a metric is a
fact about the process, and under ``twistd chat --workers N`` each worker's
values are written to a file of its own (prometheus_client's multiprocess
mode, set up by ``metrics_http.WorkerMetrics``) that the supervisor sums at
scrape time. The gauges therefore say how a worker's values combine
(``multiprocess_mode="livesum"``: summed over the live workers; a dead
worker's share is dropped when the supervisor marks it dead).

Cost: nothing here is counted per recipient. A fan-out adds its recipient
count once; a commit observes its batch once; a message observes its
latency once. The five series updated once per message (or per batch) are
a ``tally.Tally`` or ``tally.Spread`` around their metric, an addition on
the hot path moved into the metric at each scrape (``tally.flush``).

Durations are measured with ``time.perf_counter`` (``TIMER``): they are
intervals, never compared with the reactor's clock, and a fake clock in a
test would only make every observation zero.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from chatservice.tally import Spread, Tally, flush

TIMER = time.perf_counter


class _Flusher(Collector):
    """Moves the hot-path tallies into their metrics whenever the registry is collected.

    Registered first, so that it runs before the metrics are read (a
    registry collects in the order of registration), whoever serves it:
    our endpoint, or an embedding application's own exposition.
    """

    def collect(self) -> list[object]:  # type: ignore[override]
        """Flush; contribute no metric of its own."""
        flush()
        return []


REGISTRY = CollectorRegistry(auto_describe=True)
REGISTRY.register(_Flusher())
# The process's CPU, memory and descriptors, and the interpreter's: served
# by a single process (a supervisor serves the workers' sums instead).
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Seconds, from 100 us (an in-memory commit, a local fan-out) to seconds
# (a stalled store).
FAST_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
# bcrypt takes ~0.2 s at cost 12 and refuses work that would wait over 3 s.
BCRYPT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

OPEN_SOCKETS = Gauge(
    "chat_open_sockets",
    "WebSockets that joined their room (fanout.ChatServerFactory.join/leave).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
"""Open WebSockets of this process, counted when a socket joins its room and
when it leaves it (``fanout.py``). Summed over workers."""

OPEN_ROOMS = Gauge(
    "chat_open_rooms",
    "Rooms with at least one open WebSocket, per process, summed over workers "
    "(fanout.ChatServerFactory.join/leave).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
"""Rooms this process fans out to: one when a room gets its first socket here,
minus one when its last leaves (``fanout.py``). Summed over workers, a room
with sockets in two workers counts twice: it is the number of room fan-outs
the processes run, which is what costs."""

MESSAGES_STORED = Tally(
    Counter(
        "chat_messages_stored",
        "New messages committed by the group committer (store/batching.py); "
        "a repeated client_msg_id stores nothing and is not counted.",
        registry=REGISTRY,
    )
)
"""Messages committed (WebSocket and REST posts alike), counted once per batch
in ``store/batching.GroupCommitStore`` after its transaction committed."""

DELIVERIES = Tally(
    Counter(
        "chat_deliveries",
        "Stored room events (messages, edits, deletions, reactions) handed to sockets: "
        "each fan-out adds its room's socket count in this process (fanout.room_event).",
        registry=REGISTRY,
    )
)
"""Frames of stored events written (or held for a resuming socket) by
``fanout.ChatServerFactory.room_event``: once per fan-out it adds the number
of this process's sockets in the room, never once per recipient. Presence
and typing notices are not counted, nor is an event held back while its
room catches up from the store (it goes out in the catch-up's burst,
``catchup.py``)."""

STORE_COMMIT_SECONDS = Spread(
    Histogram(
        "chat_store_commit_seconds",
        "Time of one group commit of new messages, from the store call to its answer "
        "(store/batching.py).",
        registry=REGISTRY,
        buckets=FAST_BUCKETS,
    ),
    FAST_BUCKETS,
)
"""Seconds one batch of new messages took to commit, failed commits included,
observed once per batch in ``store/batching.GroupCommitStore``."""

STORE_BATCH_SIZE = Spread(
    Histogram(
        "chat_store_batch_size_messages",
        "Posts in one group commit, repeats of a client_msg_id included (store/batching.py).",
        registry=REGISTRY,
        buckets=BATCH_BUCKETS,
    ),
    BATCH_BUCKETS,
)
"""Posts in one batch of ``store/batching.GroupCommitStore``: 1 while the
store keeps up, more as posts arrive during a commit. A repeated
``client_msg_id`` is part of a batch (the store finds the original there)."""

POST_TO_DELIVERY_SECONDS = Spread(
    Histogram(
        "chat_post_to_delivery_seconds",
        "From a WebSocket message frame reaching the service to its fan-out in the same "
        "process being written (fanout.py), per new message.",
        registry=REGISTRY,
        buckets=FAST_BUCKETS,
    ),
    FAST_BUCKETS,
)
"""The end-to-end latency the service adds to a message: rate limit, group
commit, encoding and the local fan-out, measured in the process the frame
arrived at (``fanout.ChatServerFactory.post`` to its answer, which runs right
after the fan-out). Other processes deliver it after the Redis hop, which
is not in this figure. REST posts and repeats are not observed."""

HTTP_REQUEST_SECONDS = Histogram(
    "chat_http_request_duration_seconds",
    "HTTP requests by route template, method and status, from routing to the answer "
    "being finished (metrics_http.MeasuredRoot).",
    ["route", "method", "status"],
    registry=REGISTRY,
)
"""Every HTTP request that the root resource routes, labelled by the route's
template (``/api/rooms/<int:room_id>``, never the raw path), its method
(unknown methods as ``other``) and status; ``unmatched`` for paths no route
knows, ``web`` for the web client's files, ``preflight`` for CORS
preflights. Its ``_count`` is the request counter. Counted by
``metrics_http.MeasuredRoot``. A WebSocket handshake that upgrades never
finishes as an HTTP request and is not counted (see ``chat_open_sockets``);
a refused one is. A body refused for its size before routing is not."""

RATE_LIMITED = Counter(
    "chat_rate_limited",
    "Requests and frames refused by a rate limit, by limiter "
    "(ratelimit.RateLimiter.refusal, handshake.py for sockets-per-user).",
    ["limiter"],
    registry=REGISTRY,
)
"""Refusals (429 or a ``rate_limited`` error frame) by the limiter's name,
counted where the refusal is made: ``ratelimit.RateLimiter.refusal`` (every
token-bucket limiter, local or shared through Redis) and ``handshake.py``
(``sockets-per-user``). Limiter names are fixed in the code, so the label
is bounded. Typing notices past their rate are dropped silently and not
counted."""

SLOW_CONSUMER_CLOSES = Counter(
    "chat_slow_consumer_closes",
    "WebSockets closed (1008) for not reading what was sent to them (fanout.slow_consumer).",
    registry=REGISTRY,
)
"""Sockets judged slow consumers by their ``Outbox`` and closed, counted in
``fanout.ChatServerFactory.slow_consumer``."""

BCRYPT_QUEUE_LENGTH = Gauge(
    "chat_bcrypt_queue_length",
    "Password hashes and checks waiting for a bcrypt thread (passwords.py).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
"""Jobs handed to the bcrypt pool that wait for a thread, set by
``passwords.PasswordHasher`` whenever a job starts waiting or ends. Summed
over workers."""

BCRYPT_WAIT_SECONDS = Histogram(
    "chat_bcrypt_wait_seconds",
    "Time a password hash or check waited for a bcrypt thread (passwords.py).",
    registry=REGISTRY,
    buckets=BCRYPT_BUCKETS,
)
"""Seconds from a job's submission to its start on a bcrypt thread, observed
once per job when it ends (``passwords.PasswordHasher``). Jobs refused as
``Overloaded`` never wait and are not observed."""

HUB_PUBLISH_FAILURES = Counter(
    "chat_hub_publish_failures",
    "Room events that did not reach Redis: a PUBLISH that failed or timed out, or "
    "an event dropped while the connection was down (redispublisher.py).",
    registry=REGISTRY,
)
"""Room events other processes miss live (they catch up from the store),
counted in ``redispublisher.RedisPublisher``."""

HUB_RECONNECTS = Counter(
    "chat_hub_reconnects",
    "Times the hub's Redis subscriber connection came back after a loss (redishub.py).",
    registry=REGISTRY,
)
"""Counted in ``redishub.RedisHub`` when a new subscriber connection is ready
after one was lost (not for the first connection)."""
