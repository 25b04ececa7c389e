"""CPU cost of encryption at rest per message: sealing, opening and the blind index.

First what ``ENCRYPTION_KEY`` adds to each message in ``add_messages``
(the tokens of its words and one AES-256-GCM seal) and to each message
read (one open), in microseconds, for a short and a long message. Then the
whole store path on SQLite (a temporary file): process CPU per message of
``add_messages`` in batches of 100 (what group commit makes of a busy
room) and of ``get_messages(limit=50)``, plain and sealed, alternated and
best of several rounds, because on a shared machine wall-clock throughput
(``bench/store_throughput.py --sealed``) moves more with the neighbours
than with the code.

    PYTHONPATH=. python bench/sealing_cost.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import react

from chatservice.keyring import new_key, parse_key_ring
from chatservice.models import NewMessage
from chatservice.store.sealing import PLAINTEXT, Sealing
from chatservice.store.sql import SQLStore
from chatservice.words import search_words

TEXTS = {
    "short (40 chars, 7 words)": "see you at the standup in ten minutes ok",
    "long (1000 chars, ~170 words)": ("the quick brown fox jumps over a lazy dog " * 24)[:1000],
}


def best_of(rounds: int, count: int, work: object) -> float:
    """The best round's microseconds per call of ``work(i)``."""
    assert callable(work)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for i in range(count):
            work(i)
        best = min(best, (time.process_time() - started) / count)
    return best * 1e6


def main(rounds: int, count: int) -> None:
    """Print the cost of each step for each text."""
    sealing = Sealing(parse_key_ring(f"k2:{new_key()},k1:{new_key()}"))
    key = sealing.current_index_key()
    for label, text in TEXTS.items():
        stored, sealed = sealing.seal_content(1, text)
        assert sealed is not None

        def cold(_: int, text: str = text) -> None:
            key.token.cache_clear()
            sealing.index_text(text)

        def warm(_: int, text: str = text) -> None:
            sealing.index_text(text)

        def seal(i: int, text: str = text) -> None:
            sealing.seal_text(i, text)

        def opened(_: int, stored: str = stored, sealed: bytes = sealed) -> None:
            sealing.open_content(1, stored, sealed)

        words = best_of(rounds, count, lambda _: search_words(text))  # noqa: B023
        costs = [best_of(rounds, count, work) for work in (cold, warm, seal, opened)]
        print(
            f"{label}: words (the search rule, also without a key) {words:6.1f} us; "
            f"tokens, new words {costs[0]:6.1f} us, cached words {costs[1]:6.1f} us; "
            f"seal {costs[2]:5.1f} us; open (a read) {costs[3]:5.1f} us; "
            f"stored {len(stored) + len(sealed)} bytes for {len(text.encode())}"
        )


async def store_costs(rounds: int, batches: int) -> None:
    """CPU per message written and read through SQLStore on SQLite, plain and sealed."""
    reactor: Any = _reactor
    folder = tempfile.mkdtemp(prefix="chat-sealing-")
    try:
        stores = {}
        for label, sealing in (
            ("plain ", PLAINTEXT),
            ("sealed", Sealing(parse_key_ring(new_key()))),
        ):
            store = SQLStore.sqlite(
                os.path.join(folder, f"{label.strip()}.db"), reactor, sealing=sealing
            )
            await store.start()
            user = await store.create_user("bench", b"h", 1)
            room = await store.ensure_room("General", "", 1)
            stores[label] = (store, user.id, room.id)
        best = {label: [float("inf"), float("inf")] for label in stores}
        n = 0
        for _ in range(rounds):
            for label, (store, user_id, room_id) in stores.items():
                started = time.process_time()
                for _ in range(batches):
                    batch = []
                    for _ in range(100):
                        n += 1
                        text = f"message {n} about the release plan for friday, word{n % 5000}"
                        batch.append(NewMessage(room_id, user_id, "bench", text, n))
                    await store.add_messages(batch)
                write = (time.process_time() - started) / (batches * 100)
                started = time.process_time()
                for _ in range(batches):
                    await store.get_messages(room_id, 50)
                read = (time.process_time() - started) / batches
                best[label] = [min(best[label][0], write), min(best[label][1], read)]
        for label, (write, read) in best.items():
            print(
                f"SQLite {label}: add_messages {write * 1e6:6.1f} us CPU per message "
                f"(batches of 100); get_messages(limit=50) {read * 1e6:7.1f} us CPU per page"
            )
        for store, _, _ in stores.values():
            await store.close()
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=20)
    options = parser.parse_args()
    main(options.rounds, options.count)
    react(lambda _: Deferred.fromCoroutine(store_costs(options.rounds, options.batches)))
