"""Schemathesis hooks: let the fuzzer past the two doors it cannot open alone.

OpenAPI counts string lengths in code points, the service counts passwords in
UTF-8 bytes (bcrypt's limit), so most generated registrations were refused
with 400 and the fuzzer never reached the rest of ``/api/register``. And a
random username and password is always a 401 at ``/api/login``. These hooks
repair the password of a generated registration replace the credentials
of every other generated login with the fuzzing account's, and make room
names unique (short generated names repeat: a 409 each time), so these
operations are fuzzed beyond validation and authentication; the schema stays
honest, and the byte rules are tested by the trial suite.
"""

from __future__ import annotations

import itertools
import os
import zlib
from typing import Any

import schemathesis

USERNAME = os.environ.get("FUZZ_USERNAME", "fuzzer")
PASSWORD = os.environ.get("FUZZ_PASSWORD", "fuzzer-password")
_room_numbers = itertools.count(1)


def _fit_password(password: str) -> str:
    """The password padded or cut (on a character boundary) to 8-72 UTF-8 bytes."""
    while len(password.encode("utf-8")) > 72:
        password = password[:-1]
    if len(password.encode("utf-8")) < 8:
        password = (password + "padding!")[:8] if password.isascii() else password + "padding!"
    return password


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Make registrations valid and half of the logins real."""
    operation = context.operation
    if operation is None or not isinstance(body, dict):
        return body
    password = body.get("password")
    if operation.path == "/api/register" and isinstance(password, str):
        return {**body, "password": _fit_password(password)}
    if operation.path in ("/api/rooms", "/api/rooms/create") and isinstance(body.get("name"), str):
        # Short generated names repeat, and a taken name is a 409 every time.
        name = body["name"].replace("\x00", "").strip()[:54] or "room"
        return {**body, "name": f"{name}-{next(_room_numbers)}"}
    if operation.path == "/api/login" and zlib.crc32(repr(body).encode()) % 2 == 0:
        return {**body, "username": USERNAME, "password": PASSWORD}
    return body
