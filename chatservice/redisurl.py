"""Parse ``REDIS_URL`` into where Redis is and how to log in.

Sans-I/O and apart from the hub because it is configuration, not
messaging: it is tested, and can be used, without a Redis and without
importing txredisapi (which imports the global reactor).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 6379


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where Redis is and how to log in, parsed from a ``redis://`` URL."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db: int | None = None
    username: str | None = None
    password: str | None = None

    @property
    def location(self) -> str:
        """``host:port``: what txredisapi connects to, and safe to log (no credentials)."""
        return f"{self.host}:{self.port}"


def parse_redis_url(url: str) -> RedisAddress:
    """Parse ``redis://[[username]:password@]host[:port][/db]``.

    Raises:
        ValueError: another scheme, or a port or db that is not a number; the
            message does not repeat the URL, which may hold a password.
    """
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError("REDIS_URL: only redis://[[user]:password@]host[:port][/db] is supported")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("REDIS_URL: the port is not a number") from None
    path = parts.path.strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise ValueError("REDIS_URL: the database must be a number, e.g. redis://host:6379/0")
    return RedisAddress(
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=int(path) if path else None,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
