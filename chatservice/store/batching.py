"""GroupCommitStore: many concurrent posts share one commit.

A durable commit costs an fsync (milliseconds), so one transaction per
message caps a store at a few hundred to a few thousand messages per second.
``GroupCommitStore.add_message`` commits at once when the store is idle, and
while a commit is in flight it collects every message that arrives, to write
them together in the next transaction. Latency stays one commit when the
load is light; throughput grows with the load instead of queueing behind it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice import metrics, models
from chatservice.errors import InternalError
from chatservice.store import IChatStore
from chatservice.store.access_delegate import DelegatedAccess
from chatservice.store.account_store import DelegatedAccounts
from chatservice.store.hook_delegate import DelegatedHooks
from chatservice.store.push_store import DelegatedPush
from chatservice.store.read_interface import DelegatedRead

DEFAULT_MAX_BATCH = 500


@implementer(IChatStore)
class GroupCommitStore(
    DelegatedAccess, DelegatedAccounts, DelegatedPush, DelegatedRead, DelegatedHooks
):
    """An ``IChatStore`` that batches single messages into shared transactions.

    Everything but ``add_message`` is passed straight to the wrapped store.
    At most one batch is in flight; messages are committed in the order
    ``add_message`` was called.
    """

    log = Logger()

    def __init__(
        self,
        store: IChatStore,
        max_batch: int = DEFAULT_MAX_BATCH,
        *,
        clock: IReactorTime | None = None,
        min_interval: float = 0.0,
        gather_turn: bool = False,
    ) -> None:
        """Wrap ``store``.

        Args:
            store: the store that commits the batches.
            max_batch: the most messages in one transaction, which bounds how
                long a single commit (and the slowest caller in it) can take.
            clock: times ``min_interval``; without one, commits are not paced.
            min_interval: seconds at least between the starts of two commits.
                Each commit costs a thread hand-off and an fsync whatever
                it holds; under load, pacing them lets more messages share
                one, at the price of at most this much more latency.
            gather_turn: start a commit at the end of the reactor turn
                (``callLater(0)``) even when the store is idle, so that the
                posts read in one turn (several sockets' frames) share it
                and fan-out writes each socket once for all of them; without
                it the first post of a turn commits alone. Needs ``clock``.
        """
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = self._access = self._account_store = self._push_store = store
        self._read_store = store
        self._hook_store = store
        self._max_batch = max_batch
        self._clock = clock
        self._min_interval = min_interval if clock is not None else 0.0
        self._gather_turn = gather_turn and clock is not None
        self._last_start = float("-inf")
        self._timer: IDelayedCall | None = None
        self._queue: deque[tuple[models.NewMessage, Deferred[models.Posted]]] = deque()
        self._in_flight = False
        self._drained: list[Deferred[None]] = []
        self._hooks: list[Callable[[Sequence[models.Posted]], object]] = []

    def on_commit(self, hook: Callable[[Sequence[models.Posted]], object]) -> None:
        """Call ``hook`` with every committed batch's results, before their callers hear back.

        For a reader that acts on a whole batch at once: ``Messages``
        publishes it to the hub in one call, so that fan-out writes each
        room's new messages to each socket in one piece instead of one
        write per message (see ``ChatServerFactory.room_events``). A hook
        that raises is logged; the callers still get their results.
        """
        self._hooks.append(hook)

    def add_message(self, new: models.NewMessage) -> Deferred[models.Posted]:
        """Store one message, sharing a transaction with concurrent ones.

        Fires with this message's ``Posted`` after the transaction that holds
        it committed; fails with that transaction's error (e.g. ``NotFound``
        if any message of the batch names an unknown room, or
        ``StoreUnavailable``), which every message of the batch shares.
        """
        result: Deferred[models.Posted] = Deferred()
        self._queue.append((new, result))
        if not self._in_flight and self._timer is None:
            self._commit_soon()
        return result

    @property
    def pending(self) -> int:
        """How many messages wait for a commit that has not started yet."""
        return len(self._queue)

    def _commit_soon(self) -> None:
        """Commit what waits now, at the turn's end, or once ``min_interval`` has passed."""
        if self._min_interval:
            assert self._clock is not None
            wait = self._last_start + self._min_interval - self._clock.seconds()
            if wait > 0:
                self._timer = self._clock.callLater(wait, self._paced)
                return
        if self._gather_turn:
            assert self._clock is not None
            self._timer = self._clock.callLater(0, self._paced)
            return
        self._commit_next()

    def _paced(self) -> None:
        self._timer = None
        self._commit_next()

    def _commit_next(self) -> None:
        if self._clock is not None:
            self._last_start = self._clock.seconds()  # what ``min_interval`` counts from
        count = min(len(self._queue), self._max_batch)
        batch = [self._queue.popleft() for _ in range(count)]
        self._in_flight = True
        committed: Deferred[Sequence[models.Posted]] = maybeDeferred(
            self._store.add_messages, [new for new, _ in batch]
        )
        committed.addBoth(self._committed, batch, metrics.TIMER())

    def _committed(
        self,
        result: Sequence[models.Posted] | Failure,
        batch: list[tuple[models.NewMessage, Deferred[models.Posted]]],
        started: float,
    ) -> None:
        # Once per batch, never per message (``metrics.py``).
        metrics.STORE_COMMIT_SECONDS.observe(metrics.TIMER() - started)
        metrics.STORE_BATCH_SIZE.observe(len(batch))
        if not isinstance(result, Failure) and len(result) != len(batch):
            result = Failure(
                InternalError(
                    f"the store answered {len(result)} results for {len(batch)} messages"
                )
            )
        # Still "in flight" while callers hear back: a message one of them
        # posts from its callback waits for the next batch instead of
        # overtaking the rest of this one.
        if isinstance(result, Failure):
            for _, waiter in batch:
                waiter.errback(result)
        else:
            metrics.MESSAGES_STORED.add(sum(1 for posted in result if posted.created))
            for hook in self._hooks:
                try:
                    hook(result)
                except Exception:
                    self.log.failure("a commit hook failed")
            for (_, waiter), posted in zip(batch, result, strict=True):
                waiter.callback(posted)
        self._in_flight = False
        if self._queue:
            self._commit_soon()
        else:
            drained, self._drained = self._drained, []
            for done in drained:
                done.callback(None)

    # -- delegated --------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Start the wrapped store."""
        return self._store.start()

    def close(self) -> Deferred[None]:
        """Commit every message already accepted, then close the wrapped store."""
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            # Closing: what waits for its turn commits now.
            timer.cancel()
            self._commit_next()
        if self._in_flight or self._queue:
            waiter: Deferred[None] = Deferred()
            self._drained.append(waiter)
            await waiter
        await self._store.close()

    def ping(self) -> Deferred[None]:
        """Ping the wrapped store."""
        return self._store.ping()

    def create_user(
        self, username: str, password_hash: bytes, created_at: int
    ) -> Deferred[models.User]:
        """Delegate to the wrapped store."""
        return self._store.create_user(username, password_hash, created_at)

    def get_user(self, user_id: int) -> Deferred[models.User]:
        """Delegate to the wrapped store."""
        return self._store.get_user(user_id)

    def get_credentials(self, username: str) -> Deferred[models.Credentials]:
        """Delegate to the wrapped store."""
        return self._store.get_credentials(username)

    def create_room(self, new: models.NewRoom) -> Deferred[models.Room]:
        """Passed to the wrapped store."""
        return self._store.create_room(new)

    def ensure_room(self, name: str, description: str, created_at: int) -> Deferred[models.Room]:
        """Delegate to the wrapped store."""
        return self._store.ensure_room(name, description, created_at)

    def get_room(self, room_id: int) -> Deferred[models.Room]:
        """Delegate to the wrapped store."""
        return self._store.get_room(room_id)

    def list_rooms(self) -> Deferred[Sequence[models.Room]]:
        """Delegate to the wrapped store."""
        return self._store.list_rooms()

    def add_messages(
        self, messages: Sequence[models.NewMessage]
    ) -> Deferred[Sequence[models.Posted]]:
        """Store a caller's own batch in one transaction, beside the queued ones.

        It does not wait in the queue: it already is a batch, and splitting it
        would break its one-transaction promise.
        """
        return self._store.add_messages(messages)

    def get_messages(
        self, room_id: int, limit: int, before: int | None = None, after: int | None = None
    ) -> Deferred[Sequence[models.Message]]:
        """Delegate to the wrapped store."""
        return self._store.get_messages(room_id, limit, before, after)

    def get_message(self, message_id: int) -> Deferred[models.Message]:
        """Delegate to the wrapped store."""
        return self._store.get_message(message_id)

    def edit_message(
        self,
        message_id: int,
        editor_id: int,
        content: str,
        edited_at: int,
        mentions: Sequence[int] | None = None,
    ) -> Deferred[models.Change]:
        """Delegate to the wrapped store: a change has its own transaction, not a batch's."""
        return self._store.edit_message(message_id, editor_id, content, edited_at, mentions)

    def delete_message(
        self, message_id: int, deleter_id: int, deleted_at: int, any_author: bool = False
    ) -> Deferred[models.Change]:
        """Delegate to the wrapped store."""
        return self._store.delete_message(message_id, deleter_id, deleted_at, any_author)

    def set_reaction(
        self, message_id: int, user_id: int, emoji: str, present: bool, ts: int
    ) -> Deferred[models.Change]:
        """Delegate to the wrapped store."""
        return self._store.set_reaction(message_id, user_id, emoji, present, ts)

    def get_events(
        self, room_id: int, after: int, limit: int
    ) -> Deferred[Sequence[models.TimelineEvent]]:
        """Delegate to the wrapped store."""
        return self._store.get_events(room_id, after, limit)

    def search_messages(
        self, query: str, room_ids: Sequence[int] | None, before: int | None, limit: int
    ) -> Deferred[Sequence[models.Message]]:
        """Delegate to the wrapped store."""
        return self._store.search_messages(query, room_ids, before, limit)
