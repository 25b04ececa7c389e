"""Schemathesis hooks: let the fuzzer past the doors it cannot open alone.

OpenAPI counts string lengths in code points, the service counts passwords in
UTF-8 bytes (bcrypt's limit), so most generated registrations were refused
with 400 and the fuzzer never reached the rest of ``/api/register``. And a
random username and password is always a 401 at ``/api/login``. These hooks
repair the password of a generated registration, replace the credentials
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

Random ids name nothing, so every other call of a route on one room or one
message is pointed at real ones (``_world``), and so is every other positive
history page's ``roomId`` (whose ``before`` and ``after``, which exclude
each other, lose ``after`` then): a room the fuzzing account owns with a
plain member in it (brought back in before each moderation call, which may
have kicked or banned them), and a message of its own. Files are pointed at
a PNG of the fuzzing account's (``_upload_image``), generated signed links
replaced by its real one (from a message that carries it), and generated
attachments of a post by it, so downloads, ranges, thumbnails and posts with
files are fuzzed past their 403 and 404. Reactions are named by UTF-8 bytes
too (at most 64), which a schema cannot say: generated ones are cut to fit.
A push subscription's key must be a point of P-256, which no pattern says:
every other registration gets a real browser's keys, and every other
deletion a subscription that exists. Webhooks and bots likewise
(``_point_at_real_hooks``): every other call on one webhook names a real
one of the fuzzing account's room (a deletion, a new one in a new room),
every other registration a new room and a URL the guard lets through, and
every other call on one bot a real bot of that room (a key revocation, a new
bot), so these routes are fuzzed past their 404. (Dead letters take a day of
failed deliveries to exist: their ids stay made up.)

"Every other" starts with the first generated case of each run of calls of
one operation in one phase (``_real_turn``; positive and negative cases
counted apart). Schemathesis judges each such run on its own, and under a
time budget a run can be one positive case: had that one been left random (a
login with made-up credentials, a history page with both ``before`` and
``after``), the operation would be reported as one whose authentication
failed or that rejects what its schema allows, and the gate would fail
depending on how loaded the machine was. (Logins, whose credentials are
replaced when both are strings, the throwaway's passwords and push
subscriptions take the same turns.) History pages are repaired in positive
cases only: the negative ones must reach the service's validation as they
were generated.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import urllib.error
import urllib.request
from typing import Any

import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
_world: dict[str, Any] = {}
# The run of calls in progress: (phase, method, path), and how many of its
# positive and negative cases came so far (``_real_turn``).
_run_key: list[Any] = [None]
_run_turns: dict[bool, int] = {True: 0, False: 0}
# Routes whose body names a user of the room (the member is put there).
_TARGETED = frozenset(
    f"/api/rooms/{{room_id}}/{action}"
    for action in ("kick", "ban", "unban", "mute", "unmute", "invites")
)


def _call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One request to the fuzzed server; its JSON answer (None for an error status)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE_URL + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError:
        return None


def _throwaway_token() -> str:
    """Register a new account on the fuzzed server; its token."""
    # Random, not counted: another run against the same server must not collide.
    body = {"username": f"throwaway-{secrets.token_hex(8)}", "password": THROWAWAY_PASSWORD}
    token: str = _call("POST", "/api/register", body)["token"]
    return token


def _real_world() -> dict[str, Any]:
    """A room of the fuzzing account with a member in it, and a message (made once)."""
    if not _world:
        member = _call(
            "POST",
            "/api/register",
            {"username": f"member-{secrets.token_hex(6)}", "password": THROWAWAY_PASSWORD},
        )
        room = _call("POST", "/api/rooms", {"name": f"fuzz-{secrets.token_hex(6)}"}, TOKEN)
        message = _call("POST", "/api/messages", {"room_id": 1, "content": "fuzz me"}, TOKEN)
        image = _upload_image()
        with_file = _call(
            "POST", "/api/messages", {"room_id": 1, "content": "", "attachments": [image]}, TOKEN
        )
        _world.update(
            room=room["id"],
            member=member["user"]["id"],
            member_token=member["token"],
            message=message["id"],
            file=image,
            link=with_file["attachments"][0]["url"],
            thumbnail_link=with_file["attachments"][0]["thumbnail_url"],
        )
        _call("POST", f"/api/rooms/{room['id']}/join", None, member["token"])
    return _world


def _upload_image() -> int:
    """Upload a small PNG as the fuzzing account (it has a thumbnail); its upload id."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (1, 2, 3)).save(out, format="PNG")
    request = urllib.request.Request(
        BASE_URL + "/api/uploads?name=fuzz.png",
        data=out.getvalue(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/png"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        upload_id: int = json.load(answer)["id"]
    return upload_id


def _bring_member_back(world: dict[str, Any]) -> None:
    """Undo what a moderation call may have done to the member: in the room, not muted."""
    room, member = world["room"], {"user_id": world["member"]}
    _call("POST", f"/api/rooms/{room}/unban", member, TOKEN)
    _call("POST", f"/api/rooms/{room}/unmute", member, TOKEN)
    _call("POST", f"/api/rooms/{room}/join", None, world["member_token"])


def _fit_emoji(emoji: str) -> str:
    """A generated reaction cut (on a character boundary) to the 64 UTF-8 bytes allowed."""
    while len(emoji.encode("utf-8")) > 64:
        emoji = emoji[:-1]
    return emoji


def _is_positive(case: Any) -> bool:
    """Whether schemathesis generated ``case`` to match the schema (not a negative case)."""
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == schemathesis.GenerationMode.POSITIVE


def _real_turn(case: Any) -> bool:
    """Whether this call goes to the real things: the first case of a run, then every other.

    A run is consecutive calls of one operation in one phase (how schemathesis
    runs and judges them); positive and negative cases take turns apart, so a
    run's first positive case is always a real one.
    """
    meta = getattr(case, "meta", None)
    phase = meta.phase.name if meta is not None else None
    key = (phase, case.method.upper(), case.operation.path)
    if key != _run_key[0]:
        _run_key[0] = key
        _run_turns.update({True: 0, False: 0})
    positive = _is_positive(case)
    turn = _run_turns[positive]
    _run_turns[positive] = turn + 1
    return turn % 2 == 0


def _fit_room_update(case: Any, params: dict[str, Any]) -> None:
    """A room update on a fresh room of the fuzzing account, under a name nobody has.

    Renaming or archiving the shared room would take it from every other
    call; a generated name repeats (409) or is blank once trimmed (400),
    which a JSON schema cannot say.
    """
    name = f"patched-{secrets.token_hex(6)}"
    params["room_id"] = _call("POST", "/api/rooms", {"name": name}, TOKEN)["id"]
    if isinstance(case.body, dict) and isinstance(case.body.get("name"), str):
        case.body = {**case.body, "name": _unique_room_name(case.body["name"])}


def _unique_room_name(name: str) -> str:
    """``name`` trimmed (never blank) with a number no other call gets: short names repeat."""
    return f"{name.strip()[:54] or 'room'}-{next(_room_numbers)}"


def _point_at_real_things(case: Any, real: bool) -> None:
    """On its real turn, a call on one room or message: at the real ones; reactions cut to fit."""
    path, params = case.operation.path, case.path_parameters
    if isinstance(params, dict) and isinstance(params.get("emoji"), str):
        params["emoji"] = _fit_emoji(params["emoji"]) or "ok"
    if isinstance(params, dict) and path.startswith("/api/admin/"):
        # Admin actions must not disable, erase or delete what the other
        # calls use (the fuzzing account itself, its room): new ones each time.
        if "user_id" in params:
            params["user_id"] = _call(
                "POST",
                "/api/register",
                {"username": f"target-{secrets.token_hex(6)}", "password": THROWAWAY_PASSWORD},
            )["user"]["id"]
        if "room_id" in params:  # archived or deleted: never General
            room = _call("POST", "/api/rooms", {"name": f"doomed-{secrets.token_hex(6)}"}, TOKEN)
            params["room_id"] = room["id"]
        return
    if not real:
        return
    params = params if isinstance(params, dict) else {}
    world = _real_world()
    history = path == "/api/messages" and case.method.upper() == "GET"
    if history and _is_positive(case) and isinstance(case.query, dict):
        page = {**case.query, "roomId": world["room"]}
        if page.get("before") is not None:
            # 'before' and 'after' exclude each other (400), which no schema can say.
            page.pop("after", None)
        case.query = page
    if "room_id" in params:
        params["room_id"] = world["room"]
        if "user_id" in params:
            params["user_id"] = world["member"]
            _bring_member_back(world)
    if path == "/api/rooms/{room_id}" and case.method.upper() == "PATCH":
        _fit_room_update(case, params)
    if "file_id" in params:  # the fuzzing account's own PNG: downloads and thumbnails
        params["file_id"] = world["file"]
        query = case.query if isinstance(case.query, dict) else None
        if query is not None and ("sig" in query or "expires" in query):
            # The real link's signature: the thumbnail has its own.
            which = "thumbnail_link" if path.endswith("/thumbnail") else "link"
            link = world[which].split("?", 1)[1]
            signed = dict(pair.split("=", 1) for pair in link.split("&"))
            case.query = {**query, "expires": signed["expires"], "sig": signed["sig"]}
    if "message_id" in params:
        params["message_id"] = world["message"]
        deleting = case.method.upper() == "DELETE" and path == "/api/messages/{message_id}"
        if deleting or "emoji" in params:
            # A deleted message takes no more changes, and one user's reactions
            # on one message are bounded (10): a new message each time.
            fresh = _call("POST", "/api/messages", {"room_id": 1, "content": "new"}, TOKEN)
            params["message_id"] = fresh["id"]
    if path in _TARGETED and isinstance(case.body, dict):
        _bring_member_back(world)
        if path.endswith("/unban"):  # something to undo
            _call("POST", f"/api/rooms/{world['room']}/ban", {"user_id": world["member"]}, TOKEN)
        case.body = {**case.body, "user_id": world["member"]}
    if path == "/api/dms" and isinstance(case.body, dict):
        case.body = {**case.body, "user_id": world["member"]}
    if path == "/api/messages" and case.method.upper() == "POST" and isinstance(case.body, dict):
        # General, answering (if at all) a message of General.
        body = {**case.body, "room_id": 1}
        if isinstance(body.get("attachments"), list):
            body["attachments"] = [world["file"]]
        if "reply_to" in body and body["reply_to"] is not None:
            body["reply_to"] = world["message"]
        case.body = body


def _browser_keys() -> dict[str, str]:
    """A real browser's push keys: a P-256 public key and a 16-byte auth secret."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"p256dh": _b64url(point), "auth": _b64url(secrets.token_bytes(16))}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _point_at_real_subscriptions(case: Any, real: bool) -> None:
    """On its real turn, a registration with real keys, a deletion of a real subscription."""
    path, method = case.operation.path, case.method.upper()
    if not path.startswith("/api/push/subscriptions") or not real:
        return
    endpoint = f"https://push.invalid/{secrets.token_hex(8)}"
    body = case.body
    if method == "POST" and isinstance(body, dict) and isinstance(body.get("keys"), dict):
        keys = {**body["keys"], **_browser_keys()}
        case.body = {**body, "endpoint": endpoint, "keys": keys}
    params = case.path_parameters
    if method == "DELETE" and isinstance(params, dict) and "subscription_id" in params:
        new = {"endpoint": endpoint, "keys": _browser_keys()}
        params["subscription_id"] = _call("POST", "/api/push/subscriptions", new, TOKEN)["id"]


def _new_webhook() -> tuple[int, int]:
    """A new room of the fuzzing account with a webhook (to a name that never resolves)."""
    room = _call("POST", "/api/rooms", {"name": f"hooked-{secrets.token_hex(6)}"}, TOKEN)["id"]
    url = f"https://hooks.invalid/{secrets.token_hex(8)}"
    hook = _call("POST", f"/api/rooms/{room}/webhooks", {"url": url}, TOKEN)["id"]
    return room, hook


def _new_bot(room: int) -> int:
    """A new bot of ``room``; its id."""
    body = {"username": f"bot-{secrets.token_hex(6)}", "room_id": room}
    bot_id: int = _call("POST", "/api/bots", body, TOKEN)["user_id"]
    return bot_id


def _point_at_real_hooks(case: Any, real: bool) -> None:
    """On its real turn, a webhook or bot call at a real webhook or bot of the fuzzing account."""
    path, method = case.operation.path, case.method.upper()
    params = case.path_parameters
    if not real or not isinstance(params, dict):
        return
    hooks = path.startswith("/api/rooms/{room_id}/webhooks")
    if hooks and method == "POST" and path == "/api/rooms/{room_id}/webhooks":
        # A new room each time: a room keeps at most 10 webhooks (409 after).
        params["room_id"] = _call(
            "POST", "/api/rooms", {"name": f"hooked-{secrets.token_hex(6)}"}, TOKEN
        )["id"]
        if isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
            url = f"https://hooks.invalid/{secrets.token_hex(8)}"
            case.body = {**case.body, "url": url}
    if hooks and "webhook_id" in params:
        world = _real_world()
        if method == "DELETE" and path.endswith("{webhook_id}"):
            params["room_id"], params["webhook_id"] = _new_webhook()
        else:
            if "webhook" not in world:
                world["webhook_room"], world["webhook"] = _new_webhook()
            params["room_id"], params["webhook_id"] = world["webhook_room"], world["webhook"]
    if path == "/api/bots" and method == "POST" and isinstance(case.body, dict):
        room = case.body.get("room_id")
        if isinstance(room, int) and not isinstance(room, bool):
            case.body = {**case.body, "room_id": _real_world()["room"]}
    if path.startswith("/api/bots/{bot_id}") and "bot_id" in params:
        world = _real_world()
        if method == "DELETE":  # revoked: a new bot each time
            params["bot_id"] = _new_bot(world["room"])
        else:
            if "bot" not in world:
                world["bot"] = _new_bot(world["room"])
            params["bot_id"] = world["bot"]


def _fit_password(password: str) -> str:
    """The password padded or cut (on a character boundary) to 8-72 UTF-8 bytes."""
    while len(password.encode("utf-8")) > 72:
        password = password[:-1]
    if len(password.encode("utf-8")) < 8:
        password = (password + "padding!")[:8] if password.isascii() else password + "padding!"
    return password


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Make registrations' passwords fit and room names unique."""
    operation = context.operation
    if operation is None or not isinstance(body, dict):
        return body
    password = body.get("password")
    if operation.path == "/api/register" and isinstance(password, str):
        return {**body, "password": _fit_password(password)}
    if operation.path in ("/api/rooms", "/api/rooms/create") and isinstance(body.get("name"), str):
        # Short generated names repeat, and a taken name is a 409 every time.
        return {**body, "name": _unique_room_name(body["name"].replace("\x00", ""))}
    return body


def _with_throwaway_password(path: str, body: Any, real: bool) -> Any:
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
    if real:
        body = {**body, **{k: THROWAWAY_PASSWORD for k in keys if isinstance(body.get(k), str)}}
    return body


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: Any, **kwargs: Any) -> None:
    """Authenticate as the fuzzing account; a revoking operation as a throwaway one."""
    route = (case.method.upper(), case.operation.path)
    real = _real_turn(case)
    _point_at_real_things(case, real)
    _point_at_real_subscriptions(case, real)
    _point_at_real_hooks(case, real)
    body = case.body
    if route == ("POST", "/api/login") and real and isinstance(body, dict):
        # The fuzzing account's credentials: a made-up login is always a 401
        # (and a run of only those, even negative ones, "failed to authenticate").
        # Fields of another type than the schema's are left alone.
        if isinstance(body.get("username"), str) and isinstance(body.get("password"), str):
            case.body = {**body, "username": USERNAME, "password": PASSWORD}
    token = _throwaway_token() if route in REVOKING else TOKEN
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    if route == ("POST", "/api/register") and _is_positive(case) and isinstance(body, dict):
        # map_body fits them too, but the coverage phase does not call it.
        if isinstance(body.get("password"), str):
            case.body = {**body, "password": _fit_password(body["password"])}
    if route in (("POST", "/api/account/password"), ("DELETE", "/api/account")):
        case.body = _with_throwaway_password(route[1], case.body, real)
