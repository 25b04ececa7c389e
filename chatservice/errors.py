"""The errors the service answers with: one class per machine-readable code.

Use cases raise these; ``rest.py`` renders them as ``{"error", "code"}`` JSON
and ``websocket.py`` as ``error`` frames or handshake refusals. Anything that
is not a ``ChatError`` is a server fault: logged, and answered with a generic
500 that carries no detail.

Every code is a class, so the classes are the one list of what a client can
be answered with: ``all_error_classes()`` walks them for the OpenAPI document
and the test that keeps ``docs/protocol.md`` honest. A new code is a new class
here, with its own ``code``, ``status`` and a docstring whose first line says
what it means to a client.
"""

from __future__ import annotations

import math


class ChatError(Exception):
    """An error a client caused or can act on, rendered as ``{"error", "code"}``."""

    status: int = 400
    code: str = "invalid_request"
    message: str = "The request is invalid."

    def __init__(self, message: str | None = None, code: str | None = None) -> None:
        # ``code=`` is kept for callers outside this package; in it, a code is
        # a class, so that ``all_error_classes`` can list it.
        self.message = message if message is not None else type(self).message
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def to_json(self) -> dict[str, str]:
        """Return the JSON body clients see."""
        return {"error": self.message, "code": self.code}

    @classmethod
    def meaning(cls) -> str:
        """What the code means to a client: the first line of the class docstring.

        Written for the OpenAPI document and docs/protocol.md, so reST's
        double backticks become Markdown's single ones.
        """
        lines = (cls.__doc__ or "").strip().splitlines()
        return lines[0].replace("``", "`") if lines else ""


def all_error_classes() -> list[type[ChatError]]:
    """Every error class that names a code of its own, in definition order.

    The walk is over ``__subclasses__``, so a class added anywhere (here, by
    convention) is listed without being registered. A subclass that does not
    set its own ``code`` is not a code of its own: a wrapper such as
    ``wire.FrameError`` (which carries another error's code) or a start-up
    error that never reaches a client, such as ``store.UnsupportedStoreURL``.

    Returns:
        The classes, parents before their subclasses. Two classes with one
        code would be a bug (the tests check that each code is listed once).
    """
    found: list[type[ChatError]] = []
    pending = list(ChatError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        if "code" in vars(cls):
            found.append(cls)
        pending[0:0] = cls.__subclasses__()
    return found


class InvalidJSON(ChatError):
    """The body is empty, not UTF-8, or not parseable JSON."""

    status = 400
    code = "invalid_json"
    message = "The request body is not valid JSON."


class InvalidRequest(ChatError):
    """Valid JSON or query parameters with wrong types or failed validation."""

    status = 400
    code = "invalid_request"


class PasswordTooLong(InvalidRequest):
    """A registration password over bcrypt's 72 bytes (UTF-8), refused rather than truncated."""

    code = "password_too_long"
    message = "The password is too long."


class ContentTooLong(InvalidRequest):
    """A WebSocket message longer than MAX_MESSAGE_LENGTH code points (after trimming)."""

    code = "content_too_long"
    message = "The message is too long."


class TooManyReactions(InvalidRequest):
    """A reaction past the bound of distinct emoji on one message, or of one user's on it."""

    code = "too_many_reactions"
    message = "This message has too many reactions."


class Unauthorized(ChatError):
    """A missing, malformed or forged token or ticket, or one whose user is gone."""

    status = 401
    code = "unauthorized"
    message = "Authentication is required."


class InvalidCredentials(Unauthorized):
    """A login with an unknown username or a wrong password (the two are not told apart)."""

    code = "invalid_credentials"
    message = "Invalid username or password."


class TokenExpired(Unauthorized):
    """A token that was valid but is past its ``exp``: log in again."""

    code = "token_expired"
    message = "The token has expired."


class Forbidden(ChatError):
    """Understood but not allowed: an Origin, a message, a password or a right (the text says)."""

    status = 403
    code = "forbidden"
    message = "This origin is not allowed."


class SessionRevoked(Unauthorized):
    """A token that was logged out (its session, or every session of its user): log in again."""

    code = "session_revoked"
    message = "This token was revoked; log in again."


class AccountDisabled(Forbidden):
    """The account was disabled by a server admin: its requests, logins and sockets are refused."""

    code = "account_disabled"
    message = "This account is disabled."


class NotFound(ChatError):
    """An unknown room, message, user or route."""

    status = 404
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(ChatError):
    """A known path asked with the wrong method."""

    status = 405
    code = "method_not_allowed"
    message = "This method is not allowed on this path."


class Conflict(ChatError):
    """A username or room name that is already taken."""

    status = 409
    code = "conflict"
    message = "That name is already taken."


class PayloadTooLarge(ChatError):
    """A request body over the configured limit."""

    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class QuotaExceeded(ChatError):
    """An upload that would take the user past ``UPLOAD_QUOTA_BYTES`` (issue 12)."""

    status = 413
    code = "quota_exceeded"
    message = "This upload would exceed your storage quota."


class RangeNotSatisfiable(ChatError):
    """A ``Range`` that starts past the end of a file (issue 12)."""

    status = 416
    code = "range_not_satisfiable"
    message = "The range is not satisfiable."


class RateLimited(ChatError):
    """Too many requests; the ``Retry-After`` header says in how many seconds to try again."""

    status = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(
        self,
        retry_after: float = 1,
        message: str | None = None,
        *,
        limiter: str = "",
        limit: int | None = None,
        reset_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.limiter = limiter
        self.limit = limit
        self.reset_after = None if reset_after is None else max(1, math.ceil(reset_after))


class UpgradeRequired(ChatError):
    """A plain HTTP request reached the WebSocket endpoint."""

    status = 426
    code = "upgrade_required"
    message = "This endpoint only speaks WebSocket."


class StoreUnavailable(ChatError):
    """The store cannot be reached; the request may succeed later."""

    status = 503
    code = "store_unavailable"
    message = "The message store is unavailable; try again later."


class InternalError(ChatError):
    """A server fault; the detail is logged, never sent."""

    status = 500
    code = "internal_error"
    message = "Internal server error."


class Overloaded(ChatError):
    """Work that could not start within a few seconds (bcrypt); retry after ``retry_after``.

    Queueing it anyway would only grow memory and the wait of everyone
    behind it, so it is refused at once with a hint of when to come back.
    """

    status = 503
    code = "overloaded"
    message = "The server is busy; try again later."

    def __init__(self, retry_after: float = 1, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class StoreFull(StoreUnavailable):
    """The store's disk (or its size limit) is full: nothing can be saved until space is freed.

    Reads still work; the request may succeed later, so it is a 503 like
    ``StoreUnavailable``, whose handlers it shares.
    """

    status = 503
    code = "store_full"
    message = "The message store is full and cannot save anything; try again later."


class StoreReadOnly(StoreUnavailable):
    """The store refuses writes (a read-only file or transaction, a standby database)."""

    status = 503
    code = "store_read_only"
    message = "The message store is read-only and cannot save anything; try again later."
