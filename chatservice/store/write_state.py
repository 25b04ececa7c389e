"""Write episodes: how long a store has been refusing writes, told once.

A full disk or a read-only database fails every write until an operator
acts, and every post during that time would log the same error. An episode
starts with the first refused write (one warning line), counts the ones
after it silently, and ends with the next write that commits (one info
line). ``/health`` reads the episode to say the store cannot write.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatservice.errors import StoreUnavailable
from chatservice.store.dialects import describe_error


class WriteEpisode:
    """Whether the store can write, for one ``Database``.

    Only touched from the reactor thread, where ``Database`` sees the outcome
    of each transaction.
    """

    log = Logger(namespace="chatservice.store")

    def __init__(self, where: str, clock: IReactorTime) -> None:
        """Track the store at ``where`` (safe to log), timing episodes on ``clock``."""
        self._where = where
        self._clock = clock
        self._fault: StoreUnavailable | None = None
        self._refused = 0
        self._since = 0.0

    @property
    def fault(self) -> StoreUnavailable | None:
        """The error writes fail with while an episode lasts, else None."""
        return self._fault

    def refused(self, desc: str, fault: StoreUnavailable, cause: BaseException) -> None:
        """Record a write the database refused; warn if it starts an episode.

        A different reason (a full disk becoming read-only) also warns: the
        operator has a new problem to fix.
        """
        self._refused += 1
        if self._fault is not None and self._fault.code == fault.code:
            self._fault = fault
            return
        self._fault = fault
        self._since = self._clock.seconds()
        self.log.warn(
            "store {where} cannot write ({code}): transaction {desc} failed with {cause}; "
            "writes are refused with 503 {code} and not logged again until one succeeds",
            where=self._where,
            code=fault.code,
            desc=desc,
            cause=describe_error(cause),
        )

    def committed(self) -> None:
        """Record a committed write; it ends the episode, if one is going on."""
        if self._fault is None:
            return
        self.log.info(
            "store {where} can write again after {refused} refused writes in {seconds:.0f} s",
            where=self._where,
            refused=self._refused,
            seconds=self._clock.seconds() - self._since,
        )
        self._fault = None
        self._refused = 0
