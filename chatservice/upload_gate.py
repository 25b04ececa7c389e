"""Refuse an upload without a valid token before a byte of its body is read.

An upload's body (up to ``MAX_UPLOAD_BYTES``) is spooled to a temporary file
as it arrives, and the route authenticates only once it is all in: without
this gate, anyone could make the server write 25 MiB to disk per request
with no token at all. ``bodylimit.LimitedRequest`` asks ``UploadGate`` as
soon as the upload's headers are in; the token's signature, claims and
expiry are checked synchronously (HS256, microseconds), and a refusal is
answered at once with the route's own 401 and a lingering close.

Only what can be decided without I/O is checked here. Whether the session
was logged out or the account disabled (``revocation.py``, possibly a
store read) is still decided by the route after the body, as on every
other route: a token that passes here has at least been issued by us and
is not expired, so the spooling it can cause is bounded by the accounts we
gave tokens to and their upload rate.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from chatservice.errors import ChatError, Unauthorized
from chatservice.http import bearer_token
from chatservice.tokens import TokenIssuer


class UploadGate:
    """The upload route's check of a request's headers alone (``bodylimit.UploadCheck``)."""

    def __init__(self, tokens: TokenIssuer) -> None:
        self._tokens = tokens

    def refusal(self, request: IRequest) -> ChatError | None:
        """The error the upload route would answer for these headers' token, or None.

        The same errors, in the same words, as the route's own
        authentication (``ChatAPI._identity`` and ``TokenIssuer.verify``).
        """
        token = bearer_token(request)
        if token is None:
            return Unauthorized("An Authorization header with a token is required.")
        try:
            self._tokens.verify(token)
        except ChatError as error:
            return error
        return None
