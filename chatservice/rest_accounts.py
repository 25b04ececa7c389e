"""The REST routes of one's own sessions and account: logout, logout-all, password, delete.

Each route authenticates, parses with ``account_forms`` and calls one
``Sessions`` use case; the answers say what was revoked or erased.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.account_forms import parse_password, parse_password_change
from chatservice.accounts import Session
from chatservice.http import client_address, read_body, respond_json
from chatservice.klein_app import Routes, app
from chatservice.sessions import Sessions
from chatservice.wire import dumps


class AccountRoutes(Routes):
    """Session and account routes; ``ChatAPI`` inherits them and provides the use case."""

    _sessions: Sessions
    _trusted_proxies: int

    @staticmethod
    def _session(request: IRequest, status: int, session: Session) -> bytes:
        raise NotImplementedError  # ChatAPI's

    @app.route("/api/logout", methods=["POST"])
    async def logout(self, request: IRequest) -> bytes:
        """Revoke the token of this request (any body is ignored): 200."""
        await self._sessions.logout(await self._identity(request))
        return respond_json(request, 200, dumps({"revoked": "session"}))

    @app.route("/api/logout-all", methods=["POST"])
    async def logout_all(self, request: IRequest) -> bytes:
        """Revoke every token of the user, this one included (any body is ignored): 200."""
        await self._sessions.logout_all(await self._identity(request))
        return respond_json(request, 200, dumps({"revoked": "all"}))

    @app.route("/api/account/password", methods=["POST"])
    async def change_password(self, request: IRequest) -> bytes:
        """Change the password: 200 with a new token; every other token is revoked."""
        identity = await self._identity(request)
        form = parse_password_change(read_body(request, self._max_body))
        address = client_address(request, self._trusted_proxies)
        return self._session(
            request, 200, await self._sessions.change_password(identity, form, address)
        )

    @app.route("/api/account", methods=["DELETE"])
    async def delete_account(self, request: IRequest) -> bytes:
        """Delete the account and erase its messages: 200 with how many were erased."""
        identity = await self._identity(request)
        password = parse_password(read_body(request, self._max_body))
        address = client_address(request, self._trusted_proxies)
        erased = await self._sessions.delete_account(identity, password, address)
        return respond_json(request, 200, dumps({"deleted": True, "erased_messages": erased}))
