"""Helpers for the files tests: a service on a real port, raw HTTP, and test images."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import treq
from PIL import Image
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from chatservice.service import ChatService
from tests.fakes import ImmediateThreadPool, config_for_tests
from tests.wsclient import serve_tcp


def png_bytes(width: int = 64, height: int = 48, *, gps: bool = False) -> bytes:
    """A real PNG (with an EXIF block holding a GPS position when ``gps``)."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    out = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPSInfo: latitude
        image.save(out, format="PNG", exif=exif.tobytes())
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF names a place (GPS latitude 48°51'24" N)."""
    image = Image.new("RGB", (640, 480), (10, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


class FileService:
    """A started ``ChatService`` on 127.0.0.1 and a treq client for it."""

    def __init__(self, test: TestCase, service: ChatService, port: int) -> None:
        self.test = test
        self.service = service
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    @classmethod
    async def start(cls, test: TestCase, **config: Any) -> FileService:
        """Start a service listening on an ephemeral port (stopped when the test ends)."""
        settings: dict[str, Any] = {"listen": ("tcp:0:interface=127.0.0.1",), **config}
        store = settings.pop("store", None)
        service = ChatService(
            config_for_tests(**settings),
            reactor,
            store=store,
            password_pool=ImmediateThreadPool(),  # type: ignore[arg-type]
        )
        port = await serve_tcp(test, service)
        return cls(test, service, port)

    async def register(self, name: str) -> tuple[str, int]:
        """A new account's token and id."""
        form = {"username": name, "password": "pw-123456"}
        status, body = await self.json("POST", "/api/register", None, form)
        assert status == 201, body
        return body["token"], body["user"]["id"]

    async def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request; the status, the headers (lower-case names, last value) and the body."""
        sent: dict[bytes | str, list[bytes | str]] = {k: [v] for k, v in (headers or {}).items()}
        if token is not None:
            sent["Authorization"] = [f"Bearer {token}"]
        response = await treq.request(
            method, self.base + path, data=data, headers=sent, pool=self.pool
        )
        body = await response.content()
        found = {
            name.decode("latin-1").lower(): values[-1].decode("latin-1")
            for name, values in response.headers.getAllRawHeaders()
        }
        return response.code, found, body

    async def json(
        self, method: str, path: str, token: str | None, body: Any = None
    ) -> tuple[int, Any]:
        """A JSON request; the status and the decoded answer."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        status, _, raw = await self.request(method, path, token, data, headers)
        return status, json.loads(raw) if raw else None

    async def upload(
        self,
        token: str,
        data: bytes,
        name: str = "file.bin",
        content_type: str = "application/octet-stream",
    ) -> tuple[int, Any]:
        """A raw upload; the status and the answer."""
        from urllib.parse import quote

        status, _, raw = await self.request(
            "POST",
            f"/api/uploads?name={quote(name)}",
            token,
            data,
            {"Content-Type": content_type},
        )
        return status, json.loads(raw)


def files_under(root: str) -> list[str]:
    """Every regular file below ``root``, relative to it."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)
