"""RedisCluster: the per-user limits, presence and tickets of every process, kept in Redis.

Each process mirrors its own sockets and presence into hashes of its own
(``cluster_scripts`` describes the keys) and decides with one atomic script
that sees every live process's mirror: a user's fourth socket is refused
whichever process it reaches, and they go offline only when their last
socket anywhere closes. A process proves it is alive with a heartbeat; one
that crashed stops counting within ``ttl`` seconds, and the next heartbeat
of another process announces its users offline.

While Redis cannot be reached, decisions fall back to this process's own
counts (``LocalCluster``, which is always kept as the local truth), with one
warning per outage. The mirror is then stale, so once Redis answers again
it is rebuilt from the local truth before it is trusted.

Rates (``redisrates``) and tickets (``redistickets``) are not part of the
mirror: they run their own commands on this connection, through
``run_script`` and ``run_command``, and share its outage state.

Importing this module imports txredisapi, and so the global reactor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatservice import cluster_scripts as scripts
from chatservice.cluster import ICluster, LocalCluster, PresenceCallback
from chatservice.ratelimit import Rate
from chatservice.redispublisher import describe_failure, lazy_connection
from chatservice.redisrates import RateBatch, SharedRedisRate
from chatservice.redistickets import RedisTickets
from chatservice.redisurl import RedisAddress, parse_redis_url
from chatservice.tokens import Identity

# A crashed process's sockets and presence stop counting after TTL seconds;
# the live ones refresh theirs every HEARTBEAT seconds.
TTL = 45.0
HEARTBEAT = 15.0


@implementer(ICluster)
class RedisCluster:
    """``ICluster`` in Redis for every process sharing ``prefix``, local while Redis is down."""

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        address: RedisAddress,
        *,
        prefix: str,
        instance: str,
        clock: IReactorTime | None = None,
        timeout: float = 2.0,
        ttl: float = TTL,
        heartbeat: float = HEARTBEAT,
        local: LocalCluster | None = None,
    ) -> None:
        """Build the cluster; nothing connects before ``start()``.

        Args:
            reactor: connects the endpoint (and times, unless ``clock``).
            address: where Redis is.
            prefix: the deployment's key prefix (``chat:<db>:``), shared by
                every process of the service.
            instance: this process's id (the service's instance id).
            clock: times heartbeats and timeouts (``reactor`` by default).
            timeout: seconds a decision waits for Redis before deciding locally.
            ttl: seconds after which a silent process's counts stop counting.
            heartbeat: seconds between heartbeats (well under ``ttl``).
            local: the local truth and fallback (a new ``LocalCluster`` by default).
        """
        self._reactor = reactor
        self._address = address
        self._clock: IReactorTime = clock if clock is not None else reactor
        self._prefix = prefix
        self._instances = prefix + "instances"
        self._instance = instance
        self._timeout = timeout
        self._ttl = ttl
        self.local = local if local is not None else LocalCluster(self._clock)
        self._pool: Any = lazy_connection(address, timeout)
        self._heartbeat = LoopingCall(self.beat)
        self._heartbeat.clock = self._clock
        self._interval = heartbeat
        self._on_presence: PresenceCallback | None = None
        # Every rate's takes of one reactor turn go to Redis in one script.
        self._rates = RateBatch(self, self._clock, prefix + "rate:")
        # Tickets are plain keys, any process's to redeem (``redistickets``).
        self._tickets = RedisTickets(self, self.local.tickets, self._clock, prefix)
        self._dirty = True  # the mirror may differ from the local truth
        self._mirroring: set[Deferred[Any]] = set()  # mirror scripts not yet answered
        self._degraded = False
        self._started = False
        self._stopped = False

    @classmethod
    def from_url(cls, url: str, reactor: Any, *, instance: str, **kwargs: Any) -> RedisCluster:
        """Build from ``REDIS_URL``; the prefix names the database, as the hub's channels do."""
        address = parse_redis_url(url)
        kwargs.setdefault("prefix", f"chat:{address.db or 0}:")
        return cls(reactor, address, instance=instance, **kwargs)

    @property
    def ticket_lifetime(self) -> int:
        """Seconds a ticket stays valid (the local book's lifetime)."""
        return self.local.ticket_lifetime

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Connect in the background and start heartbeating; never waits for Redis."""
        if self._started:
            raise RuntimeError("RedisCluster.start() was already called")
        self._started = True
        endpoint = HostnameEndpoint(
            self._reactor, self._address.host, self._address.port, timeout=self._timeout
        )
        self._pool.startConnecting(endpoint)
        self._pool.deferred.addErrback(self._refused)
        self._heartbeat.start(self._interval, now=False)
        self._pool.deferred.addCallback(lambda _: self.beat())
        return succeed(None)

    def stop(self) -> Deferred[None]:
        """Withdraw this process's counts (if Redis answers in time) and disconnect."""
        self._stopped = True
        if self._heartbeat.running:
            self._heartbeat.stop()
        if not self._started:
            return succeed(None)
        withdrawing: Deferred[Any] = succeed(None)
        if self._pool.size:
            withdrawing = self._eval(scripts.WITHDRAW, [self._prefix, self._instance])
            withdrawing.addErrback(lambda _: None)

        def disconnect(_: object) -> Deferred[None]:
            done: Deferred[None] = self._pool.disconnect()
            return done

        return withdrawing.addCallback(disconnect)

    def on_presence(self, callback: PresenceCallback) -> None:
        """Set who announces the users of a dead process offline."""
        self._on_presence = callback

    # -- sockets ------------------------------------------------------------------

    def reserve_socket(self, user_id: int, limit: int) -> Deferred[bool]:
        """Count the socket if the user has fewer than ``limit`` on every live process."""
        if not self._mirror_ready():
            return succeed(self.local.reserve_here(user_id, limit))

        def answered(counted: object) -> bool:
            if counted == 1:
                self.local.count_socket(user_id)
                return True
            return False

        def failed(failure: Failure) -> bool:
            self.note_failure(failure)
            return self.local.reserve_here(user_id, limit)

        reserving = self._mirror(scripts.SOCKET_RESERVE, str(user_id), str(limit))
        return reserving.addCallbacks(answered, failed)

    def release_socket(self, user_id: int) -> None:
        """Uncount one socket here and in the mirror."""
        self.local.release_socket(user_id)
        if self._mirror_ready():
            self._mirror(scripts.SOCKET_RELEASE, str(user_id)).addErrback(self.note_failure)

    def sockets_of(self, user_id: int) -> int:
        """How many of the user's sockets this process counts."""
        return self.local.sockets_of(user_id)

    def online(self, user_ids: Sequence[int]) -> frozenset[int] | Deferred[frozenset[int]]:
        """The users with a socket on any live process (only this one's while degraded)."""
        here = self.local.online(user_ids)
        others = [str(user_id) for user_id in sorted(set(user_ids) - here)]
        if not others or not self._mirror_ready():
            return here

        def failed(failure: Failure) -> frozenset[int]:
            self.note_failure(failure)
            return here

        return self._mirror(scripts.ONLINE, *others).addCallbacks(
            lambda found: here | {int(user_id) for user_id in found}, failed
        )

    # -- presence -----------------------------------------------------------------

    def arrive(self, room_id: int, user_id: int, username: str) -> Deferred[bool]:
        """True if this is the user's first socket in the room on any live process."""
        if not self.local.arrive_here(room_id, user_id, username):
            return succeed(False)
        return self._presence(scripts.PRESENCE_ARRIVE, f"{room_id}:{user_id}", username)

    def depart(self, room_id: int, user_id: int) -> Deferred[bool]:
        """True if that was the user's last socket in the room on any live process."""
        if not self.local.depart_here(room_id, user_id):
            return succeed(False)
        return self._presence(scripts.PRESENCE_DEPART, f"{room_id}:{user_id}")

    def _presence(self, script: str, *args: str) -> Deferred[bool]:
        if not self._mirror_ready():
            return succeed(True)  # the first or last here: the local answer

        def failed(failure: Failure) -> bool:
            self.note_failure(failure)
            return True

        return self._mirror(script, *args).addCallbacks(lambda alone: alone == 1, failed)

    # -- tickets ------------------------------------------------------------------

    def issue_ticket(self, identity: Identity) -> Deferred[str]:
        """A ticket any process can redeem once (``redistickets``)."""
        return self._tickets.issue(identity)

    def redeem_ticket(self, ticket: str) -> Deferred[Identity | None]:
        """Use a ticket up, whichever process issued it (``redistickets``)."""
        return self._tickets.redeem(ticket)

    # -- rates --------------------------------------------------------------------

    def rate(self, name: str, rate: Rate) -> SharedRedisRate:
        """A per-user rate whose buckets live in Redis (in this process while degraded)."""
        return SharedRedisRate(self, self._rates, name, rate, self.local.rate(name, rate))

    def run_script(self, script: str, keys: list[str], args: list[str]) -> Deferred[Any]:
        """Run a script that is not about this process's mirror (a rate); bounded in time."""
        running: Deferred[Any] = self._pool.handler.eval(script, keys, args)
        running.addTimeout(self._timeout, self._clock)
        return running.addCallback(self._healthy)

    def run_command(self, *args: object) -> Deferred[Any]:
        """Run one command that is not about the mirror (a ticket); bounded in time."""
        running: Deferred[Any] = self._pool.handler.execute_command(*args)
        running.addTimeout(self._timeout, self._clock)
        return running.addCallback(self._healthy)

    # -- Redis plumbing -----------------------------------------------------------

    def reachable(self) -> bool:
        """True if a command can be sent now; otherwise the outage is noted."""
        if self._stopped:
            return False
        if not self._pool.size:
            self._dirty = True
            self._degrade("no connection")
            return False
        return True

    def _mirror_ready(self) -> bool:
        """True if the mirror may decide: reachable, and rebuilt since any outage."""
        if not self.reachable():
            return False
        if self._dirty:
            if self._mirroring:
                return False  # rebuild once the scripts in flight have answered
            self._resync()
        return True

    def _mirror(self, script: str, *args: str) -> Deferred[Any]:
        """Run a script that reads or changes this process's mirror."""
        running = self._eval(script, [self._prefix, self._instance, repr(self._ttl), *args])
        self._mirroring.add(running)

        def answered(result: object) -> object:
            self._mirroring.discard(running)
            return result if isinstance(result, Failure) else self._healthy(result)

        return running.addBoth(answered)

    def _eval(self, script: str, args: list[str]) -> Deferred[Any]:
        running: Deferred[Any] = self._pool.handler.eval(script, [self._instances], args)
        return running.addTimeout(self._timeout, self._clock)

    def _resync(self) -> None:
        """Rebuild the mirror from the local truth (sent before any later script)."""
        self._dirty = False
        counts = self.local.socket_counts()
        args = [str(len(counts))]
        for user_id, count in counts.items():
            args += [str(user_id), str(count)]
        for (room_id, user_id), username in self.local.present_here().items():
            args += [f"{room_id}:{user_id}", username]
        self._mirror(scripts.RESYNC, *args).addErrback(self.note_failure)

    def beat(self) -> Deferred[None]:
        """Stay alive, rebuild a stale mirror, and announce the users of dead processes.

        Runs every ``heartbeat`` seconds; tests call it to make that moment now.
        """
        if self._dirty and self._mirroring and self.reachable():
            # The mirror is rebuilt once the scripts sent before are answered.
            settled = DeferredList(list(self._mirroring), consumeErrors=True)
            return settled.addCallback(lambda _: self.beat())
        if not self._mirror_ready():
            return succeed(None)
        beating = self._mirror(scripts.HEARTBEAT).addCallbacks(self._ended, self.note_failure)
        return beating.addErrback(self._beat_failed)

    def _beat_failed(self, failure: Failure) -> None:
        # Logged, not raised: a failing heartbeat must not stop the next one.
        self.log.failure("a Redis heartbeat went wrong", failure)

    def when_connected(self) -> Deferred[None]:
        """Fire once Redis answers a PING (commands wait for a connection; a lost one retries)."""
        pinging: Deferred[object] = self._pool.handler.ping()

        def again(failure: Failure) -> Deferred[None]:
            if self._stopped:
                return succeed(None)
            return self.when_connected()

        return pinging.addCallbacks(lambda _: None, again)

    def _ended(self, flat: list[str]) -> None:
        if self._on_presence is None:
            return
        for field, username in zip(flat[::2], flat[1::2], strict=True):
            room_id, user_id = field.split(":")
            self._on_presence(int(room_id), int(user_id), username, "offline")

    def _healthy(self, result: Any) -> Any:
        if self._degraded:
            self._degraded = False
            self.log.info(
                "Redis at {address} answers again: limits, presence and tickets are shared",
                address=self._address.location,
            )
        return result

    def note_failure(self, failure: Failure) -> None:
        """A command failed: decide locally and rebuild the mirror once Redis answers."""
        self._dirty = True
        self._degrade(describe_failure(failure))

    def _degrade(self, reason: str) -> None:
        if self._stopped or self._degraded:
            return
        self._degraded = True
        self.log.warn(
            "Redis at {address} cannot be reached ({reason}): socket limits, message rates, "
            "presence and tickets are counted per process until it answers again",
            address=self._address.location,
            reason=reason,
        )

    def _refused(self, failure: Failure) -> None:
        self.log.error(
            "Redis at {address} refused the connection ({error}); limits, presence and "
            "tickets stay per process",
            address=self._address.location,
            error=describe_failure(failure),
        )
