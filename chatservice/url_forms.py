"""The checks of a URL a user gives the service to request: a webhook's URL, a push endpoint.

Both are URLs the service will POST to from inside the operator's network,
so both are taken apart the same way and both go through the SSRF guard's
literal-address check (``ssrf.check_literal_host``) at registration. Each
form keeps its own rules on top (which schemes, which parts may be there)
and names its own field in every ``400 invalid_request``.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from chatservice.errors import InvalidRequest
from chatservice.ssrf import ForbiddenAddress, check_literal_host


def plain_ascii(url: str) -> bool:
    """True when ``url`` is ASCII with no white space or control character (punycode names)."""
    return url.isascii() and not any(c.isspace() or ord(c) < 0x21 for c in url)


def split_url(field: str, url: str) -> tuple[SplitResult, int | None]:
    """``url``'s parts and its port; ``'FIELD' is not a valid URL.`` when either cannot be read."""
    try:
        parts = urlsplit(url)
        return parts, parts.port
    except ValueError:
        raise InvalidRequest(f"'{field}' is not a valid URL.") from None


def refuse_literal_host(field: str, host: str) -> None:
    """``'FIELD' is refused: ...`` when ``host`` is a literal address the guard refuses."""
    try:
        check_literal_host(host)
    except ForbiddenAddress as refused:
        raise InvalidRequest(f"'{field}' is refused: {refused}.") from None
