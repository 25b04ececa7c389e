"""Serves the web client: the chat page at ``/``, the admin panel at ``/admin``, their assets.

A resource of our own rather than ``twisted.web.static.File``, because:

* the files are few and small, so they are read once from the package
  (``importlib.resources``, which also works from a zip) and nothing on disk
  is looked up per request;
* the page needs its own security headers: a strict Content-Security-Policy
  (no inline script or style, connections to this origin only, no framing),
  and Trusted Types, so that no code path can turn text into HTML;
* a path that is not one of the files stays the API's JSON 404:
  ``ApiRoot`` (``chatservice/http.py``) asks ``serves`` first and hands
  every other path to the Klein app.

Every path is relative to where the service is mounted (``request.postpath``),
and the page uses relative URLs only, so the client works at ``/`` and under
a prefix of a host ``Site``. The admin panel is ``admin`` (no slash), a
sibling of ``static/`` and ``api/``, so the two pages share every relative
URL; ``admin/`` is sent back to ``../admin``. The service worker (Web Push)
is ``sw.js``, also beside the page: a worker's scope is at most the folder
of its script, and it must cover the page. The files are served with ``no-cache`` and an
``ETag``: they change with each release and carry no fingerprint in their
names (there is no build step), so a browser asks each time and gets a 304.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from typing import Any
from urllib.parse import quote

from twisted.web.iweb import IRequest
from twisted.web.server import NOT_DONE_YET

from chatservice.errors import MethodNotAllowed
from chatservice.wire import error_body

PAGE = "index.html"
ADMIN_PAGE = "admin.html"
ADMIN = b"admin"
WORKER = "sw.js"
ASSETS = b"static"
CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
}
# What the page may load and do. 'self' in connect-src also allows ws: and
# wss: to the page's own host and port (CSP Level 3, Chromium, Firefox and
# Safari alike); form-action 'none' keeps a form that JavaScript did not
# handle from ever sending a password in a URL.
PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types chat-worker",
    )
).encode("ascii")
PAGE_HEADERS = (
    (b"content-security-policy", PAGE_POLICY),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
ALLOWED = b"GET, HEAD"


@dataclass(frozen=True, slots=True)
class WebFile:
    """One file of the client, as it is sent."""

    body: bytes
    content_type: bytes
    etag: bytes
    is_page: bool

    @classmethod
    def of(cls, name: str, body: bytes) -> WebFile:
        """The file ``name`` (its extension picks the type) holding ``body``."""
        extension = name[name.rfind(".") :] if "." in name else ""
        if extension not in CONTENT_TYPES:
            raise ValueError(f"the web client has a file of an unknown type: {name}")
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(body, CONTENT_TYPES[extension], f'"{digest}"'.encode(), extension == ".html")


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif not entry.name.startswith("."):
            yield f"{prefix}{entry.name}", entry


@functools.cache
def package_files() -> tuple[WebFile, Mapping[str, WebFile]]:
    """The page and the assets (by path under ``static/``) shipped in this package.

    Read once per process: every ``ChatService`` (tests build hundreds)
    serves the same files.
    """
    root = resources.files(__package__ or "chatservice.web")
    page = WebFile.of(PAGE, (root / PAGE).read_bytes())
    assets = {
        name: WebFile.of(name, entry.read_bytes()) for name, entry in _walk(root / "static", "")
    }
    return page, assets


@functools.cache
def admin_page() -> WebFile:
    """The admin panel's page shipped in this package (its assets are the chat page's)."""
    root = resources.files(__package__ or "chatservice.web")
    return WebFile.of(ADMIN_PAGE, (root / ADMIN_PAGE).read_bytes())


@functools.cache
def service_worker() -> WebFile:
    """The chat page's service worker shipped in this package."""
    root = resources.files(__package__ or "chatservice.web")
    return WebFile.of(WORKER, (root / WORKER).read_bytes())


class WebClient:
    """Answers for the page and its assets; says which paths are its own."""

    def __init__(
        self,
        page: WebFile,
        assets: Mapping[str, WebFile],
        admin: WebFile | None = None,
        worker: WebFile | None = None,
    ) -> None:
        self._page = page
        self._assets = dict(assets)
        self._admin = admin
        self._worker = worker

    @classmethod
    def from_package(cls) -> WebClient:
        """The client shipped in this package."""
        return cls(*package_files(), admin=admin_page(), worker=service_worker())

    def file_for(self, postpath: list[bytes]) -> WebFile | None:
        """The file at ``postpath`` (the path below the mount point), or None."""
        if postpath == [b""]:
            return self._page
        if postpath == [ADMIN]:
            return self._admin
        if postpath == [WORKER.encode()]:
            return self._worker
        if len(postpath) > 1 and postpath[0] == ASSETS:
            name = b"/".join(postpath[1:]).decode("utf-8", "replace")
            return self._assets.get(name)
        return None

    def serves(self, postpath: list[bytes]) -> bool:
        """True for the pages, their assets, and the two paths sent on to a page."""
        return (
            postpath == []
            or (self._admin is not None and postpath == [ADMIN, b""])
            or self.file_for(postpath) is not None
        )

    def render(self, request: IRequest) -> Any:
        """Answer a request for one of ``serves``'s paths."""
        if request.method not in (b"GET", b"HEAD"):
            # The API's JSON 405 (http.respond_error, which imports this module).
            body = error_body(MethodNotAllowed())
            request.setResponseCode(MethodNotAllowed.status)
            request.setHeader(b"allow", ALLOWED)
            request.setHeader(b"content-type", b"application/json")
            request.setHeader(b"content-length", b"%d" % len(body))
            return body
        postpath: list[bytes] = getattr(request, "postpath", None) or []
        found = self.file_for(postpath)
        if found is None:
            if postpath:  # admin/: its relative URLs would resolve one level down
                return _redirect(request, b"../admin")
            return self._add_slash(request)
        request.setHeader(b"content-type", found.content_type)
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"etag", found.etag)
        if found.is_page:
            for name, value in PAGE_HEADERS:
                request.setHeader(name, value)
        if _matches(request.getHeader(b"if-none-match"), found.etag):
            request.setResponseCode(304)
            return _finished(request)
        if request.method == b"HEAD":
            # Returned bytes would make Twisted send "Content-Length: 0".
            request.setHeader(b"content-length", b"%d" % len(found.body))
            return _finished(request)
        request.setHeader(b"content-length", b"%d" % len(found.body))
        return found.body

    @staticmethod
    def _add_slash(request: IRequest) -> bytes:
        """Send ``/chat`` on to ``/chat/``: the page's relative URLs need the slash.

        The ``Location`` is relative (the last segment and a slash), so it
        stays right behind a proxy that adds or strips a prefix.
        """
        prepath: list[bytes] = getattr(request, "prepath", None) or [b""]
        return _redirect(request, quote(prepath[-1]).encode("ascii") + b"/")


def _redirect(request: IRequest, location: bytes) -> bytes:
    """A bodiless 301 to a relative ``location``."""
    request.setResponseCode(301)
    request.setHeader(b"location", location)
    request.setHeader(b"content-length", b"0")
    return b""


def _matches(if_none_match: bytes | None, etag: bytes) -> bool:
    if if_none_match is None:
        return False
    tags = [tag.strip() for tag in if_none_match.split(b",")]
    return b"*" in tags or etag in tags or b"W/" + etag in tags


def _finished(request: IRequest) -> Any:
    request.finish()
    return NOT_DONE_YET
