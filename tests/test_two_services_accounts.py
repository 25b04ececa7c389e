"""Revocation across two services on one PostgreSQL database and one Redis.

A logout on A closes the revoked token's socket on B through the event
alone (both services' periodic sweeps are stopped, so nothing else could
close it), and B refuses the token from then on without waiting for a
refresh; disabling a user on A closes their sockets on both. Each service
has its own port, store pool, hub and cluster, as two processes would.

Needs ``CHAT_TEST_POSTGRES`` and ``CHAT_TEST_REDIS``.
"""

from __future__ import annotations

import json
from typing import Any

import treq
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.revocation import CLOSE_ACCOUNT_DISABLED, CLOSE_SESSION_REVOKED
from chatservice.wire import CredentialsForm
from tests.test_redishub import _unique_prefix
from tests.two_services import TwoServices, bearer
from tests.wsclient import RecordingClient, join_tcp

PASSWORD = "pw-123456"


class TwoServicesRevocationTests(TwoServices, TestCase):
    """Revocations decided on A take effect on B at once."""

    async def setUp(self) -> None:  # type: ignore[override]
        """Services A and B; alice (two sessions) and bob (an admin) registered."""
        super().setUp()
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        prefix = _unique_prefix()
        self.a, self.port_a = await self.start_service(prefix)
        self.b, self.port_b = await self.start_service(prefix)
        for service in (self.a, self.b):
            # No sweeps: a socket closes only because an event reached its process.
            service.revocation.stop()
        accounts = self.a.accounts
        self.alice = (await accounts.register(CredentialsForm("alice", PASSWORD))).token
        self.alice_2 = (await accounts.login(CredentialsForm("alice", PASSWORD))).token
        bob = await accounts.register(CredentialsForm("bob", PASSWORD))
        self.bob, self.bob_id = bob.token, bob.user.id
        self.alice_id = (await accounts.authenticate(self.alice)).user_id
        await self.a.store.set_admin("bob", True)

    async def post(self, port: int, path: str, token: str) -> tuple[int, Any]:
        """POST to a service over HTTP; the status and the JSON body."""
        answer = await treq.post(
            f"http://127.0.0.1:{port}{path}",
            headers=bearer(token),
            pool=self.pool,
        )
        return answer.code, json.loads(await answer.content())

    async def get(self, port: int, path: str, token: str) -> tuple[int, Any]:
        """GET from a service over HTTP; the status and the JSON body."""
        answer = await treq.get(
            f"http://127.0.0.1:{port}{path}",
            headers=bearer(token),
            pool=self.pool,
        )
        return answer.code, json.loads(await answer.content())

    async def closed_by_event(self, client: RecordingClient) -> int | None:
        """The close code ``client`` gets (with the sweeps stopped, only an event closes it)."""
        return await client.closed

    async def test_a_logout_on_one_closes_that_tokens_socket_on_the_other(self) -> None:
        """Alice logs a token out on A: its socket on B closes (4001), her other one stays."""
        revoked = await join_tcp(self, reactor, self.port_b, self.alice)
        kept = await join_tcp(self, reactor, self.port_b, self.alice_2)
        self.assertEqual((await self.get(self.port_b, "/api/rooms", self.alice))[0], 200)
        self.assertEqual((await self.post(self.port_a, "/api/logout", self.alice))[0], 200)
        self.assertEqual(await self.closed_by_event(revoked), CLOSE_SESSION_REVOKED)
        self.assertEqual(revoked.remoteCloseReason, "session revoked")
        self.assertTrue(kept.ws_open)
        # B read nothing more: the event told it.
        status, body = await self.get(self.port_b, "/api/rooms", self.alice)
        self.assertEqual((status, body["code"]), (401, "session_revoked"))
        self.assertEqual((await self.get(self.port_b, "/api/rooms", self.alice_2))[0], 200)

    async def test_disabling_a_user_on_one_closes_their_sockets_on_both(self) -> None:
        """Bob (an admin) disables alice through A: her sockets on A and B close with 4002."""
        sockets = [
            await join_tcp(self, reactor, port, token)
            for port, token in ((self.port_a, self.alice), (self.port_b, self.alice_2))
        ]
        path = f"/api/admin/users/{self.alice_id}/disable"
        self.assertEqual((await self.post(self.port_a, path, self.bob))[0], 200)
        for client in sockets:
            self.assertEqual(await self.closed_by_event(client), CLOSE_ACCOUNT_DISABLED)
        status, body = await self.get(self.port_b, "/api/rooms", self.alice_2)
        self.assertEqual((status, body["code"]), (403, "account_disabled"))
        # Enabled through B: B knows at once (A hears it through Redis, soon after).
        path = f"/api/admin/users/{self.alice_id}/enable"
        self.assertEqual((await self.post(self.port_b, path, self.bob))[0], 200)
        self.assertEqual((await self.get(self.port_b, "/api/rooms", self.alice))[0], 200)

    async def test_logout_all_on_one_closes_every_socket_on_the_other(self) -> None:
        """Logout-all on B closes both of alice's sockets on A (4001)."""
        sockets = [
            await join_tcp(self, reactor, self.port_a, t) for t in (self.alice, self.alice_2)
        ]
        self.assertEqual((await self.post(self.port_b, "/api/logout-all", self.alice))[0], 200)
        for client in sockets:
            self.assertEqual(await self.closed_by_event(client), CLOSE_SESSION_REVOKED)
