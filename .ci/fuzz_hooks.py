"""Schemathesis hooks: let the fuzzer past the doors it cannot open alone.

OpenAPI counts string lengths in code points, the service counts passwords in
UTF-8 bytes (bcrypt's limit), so most generated registrations were refused
with 400 and the fuzzer never reached the rest of ``/api/register``. And a
random username and password is always a 401 at ``/api/login``. These hooks
repair the password of a generated registration replace the credentials
of every other generated login with the fuzzing account's, and make room
names unique (short generated names repeat: a 409 each time), so these
operations are fuzzed beyond validation and authentication; the schema stays
honest, and the byte rules are tested by the trial suite.

Every request carries the fuzzing account's token (``before_call``), except
those that revoke the token they are called with (logout, logout-all, a
password change, deleting the account): each of those gets the token of a
new throwaway account, registered for it, so the fuzzing account keeps
working; every other generated password of theirs is replaced with the
throwaway's, so that their success is fuzzed too.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import urllib.request
import zlib
from typing import Any

import schemathesis

USERNAME = os.environ.get("FUZZ_USERNAME", "fuzzer")
PASSWORD = os.environ.get("FUZZ_PASSWORD", "fuzzer-password")
TOKEN = os.environ.get("FUZZ_TOKEN", "")
BASE_URL = os.environ.get("FUZZ_BASE_URL", "http://127.0.0.1:18765")
THROWAWAY_PASSWORD = "throwaway-password"
# Operations that revoke the token of their request: (METHOD, path).
REVOKING = frozenset(
    {
        ("POST", "/api/logout"),
        ("POST", "/api/logout-all"),
        ("POST", "/api/account/password"),
        ("DELETE", "/api/account"),
    }
)
_room_numbers = itertools.count(1)
_alternate = {
    path: itertools.cycle((True, False)) for path in ("/api/account/password", "/api/account")
}


def _throwaway_token() -> str:
    """Register a new account on the fuzzed server; its token."""
    # Random, not counted: another run against the same server must not collide.
    body = {"username": f"throwaway-{secrets.token_hex(8)}", "password": THROWAWAY_PASSWORD}
    request = urllib.request.Request(
        BASE_URL + "/api/register", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token: str = json.load(answer)["token"]
    return token


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
    half = zlib.crc32(repr(body).encode()) % 2 == 0
    if operation.path == "/api/login" and half:
        return {**body, "username": USERNAME, "password": PASSWORD}
    return body


def _with_throwaway_password(path: str, body: Any) -> Any:
    """Every other password change or deletion with the throwaway's password; fitted ones.

    Here rather than in ``map_body``, which the coverage phase does not
    call: each phase must reach the route's success, or schemathesis
    reports the route as one that rejects what its schema allows. A field
    of another type than the schema's is left alone (a negative case).
    """
    if not isinstance(body, dict):
        return body
    keys = ("current_password",) if path == "/api/account/password" else ("password",)
    new = body.get("new_password")
    if path == "/api/account/password" and isinstance(new, str):
        body = {**body, "new_password": _fit_password(new)}
    if next(_alternate[path]):
        body = {**body, **{k: THROWAWAY_PASSWORD for k in keys if isinstance(body.get(k), str)}}
    return body


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: Any, **kwargs: Any) -> None:
    """Authenticate as the fuzzing account; a revoking operation as a throwaway one."""
    route = (case.method.upper(), case.operation.path)
    token = _throwaway_token() if route in REVOKING else TOKEN
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    if route in (("POST", "/api/account/password"), ("DELETE", "/api/account")):
        case.body = _with_throwaway_password(route[1], case.body)
