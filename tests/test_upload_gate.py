"""Over a real TCP port: an upload without a valid token is refused before its body is spooled.

The client declares 20 MiB, sends only the first MiB, then waits for the
answer: the 401 must come while most of the body was never sent, and the
server must not have written a byte of it to a request body (nor opened the
temporary file Twisted spools large bodies to). A valid token's upload, and
a logged-out token's (refused only after its body, as before), show the
counters count.
"""

from __future__ import annotations

import socket
import tempfile
import time
from typing import IO, Any

import jwt
import twisted.web.http
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from chatservice.bodylimit import LimitedRequest
from chatservice.errors import ChatError
from tests.fakes import TEST_SECRET
from tests.files_support import FileService
from tests.test_http import chunk, post_head
from tests.wsclient import HttpAnswer, parse_http_answer

MIB = 1024 * 1024
DECLARED = 20 * MIB
SENT = MIB
PIECE = b"x" * 65536
# A safety net only: without the gate the server waits for the other 19 MiB
# and the client's read ends here, failing the test.
SOCKET_TIMEOUT = 10.0


def _forged(secret: str, **claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "1", "username": "alice", "iat": now - 10, "exp": now + 3600}
    return jwt.encode({**base, **claims}, secret.encode(), algorithm="HS256")


def refused_upload(port: int, authorization: bytes | None, chunked: bool) -> HttpAnswer:
    """Declare a 20 MiB upload, send its first MiB, and read the answer to EOF."""
    extra = [b"Content-Type: application/octet-stream"]
    if authorization is not None:
        extra.append(b"Authorization: " + authorization)
    head = post_head(None if chunked else DECLARED, *extra, path=b"/api/uploads?name=big.bin")
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(head)
        for _ in range(SENT // len(PIECE)):
            sock.sendall(chunk(PIECE) if chunked else PIECE)
        received = b""
        while data := sock.recv(65536):
            received += data
    return parse_http_answer(received)


class SpoolCounter:
    """Counts body bytes handed to requests and the temporary files opened for them.

    And notes, for each early refusal, when its connection is gone (the
    lingering close ends when the client closes), so a test can wait for it.
    """

    def __init__(self, test: TestCase) -> None:
        self.body_bytes = 0
        self.temporary_files = 0
        self.gone: list[Deferred[None]] = []
        original_chunk = twisted.web.http.Request.handleContentChunk
        original_file = tempfile.TemporaryFile
        original_refuse = LimitedRequest._refuse

        def refuse(request: LimitedRequest, error: ChatError) -> None:
            original_refuse(request, error)
            lost = request.notifyFinish()
            lost.addErrback(lambda _: None)  # a refused request never finishes
            self.gone.append(lost)

        def handle_content_chunk(request: Any, data: bytes) -> None:
            self.body_bytes += len(data)
            original_chunk(request, data)

        def temporary_file(*args: Any, **kwargs: Any) -> IO[Any]:
            self.temporary_files += 1
            opened: IO[Any] = original_file(*args, **kwargs)
            return opened

        test.patch(twisted.web.http.Request, "handleContentChunk", handle_content_chunk)
        test.patch(tempfile, "TemporaryFile", temporary_file)
        test.patch(LimitedRequest, "_refuse", refuse)


class UploadGateOverTCPTests(TestCase):
    """``POST /api/uploads`` checks the token from the headers, before the body."""

    timeout = 120

    async def test_refused_before_the_body_is_spooled(self) -> None:
        """No token, a bad or forged one, an expired one: 401 after 1 of 20 MiB; none spooled."""
        chat = await FileService.start(self)
        counter = SpoolCounter(self)
        forged = _forged("another-secret-another-secret-0123")
        expired = _forged(TEST_SECRET, exp=int(time.time()) - 5)
        cases = [
            (None, False, "unauthorized"),
            (None, True, "unauthorized"),
            (b"Bearer not-a-token", False, "unauthorized"),
            (b"Bearer " + forged.encode(), False, "unauthorized"),
            (b"Bearer " + expired.encode(), True, "token_expired"),
        ]
        for authorization, chunked, code in cases:
            with self.subTest(authorization=authorization, chunked=chunked):
                answer = await deferToThread(refused_upload, chat.port, authorization, chunked)
                self.assertEqual((answer.status, answer.json()["code"]), (401, code))
                self.assertEqual(answer.headers["content-type"], "application/json")
                self.assertEqual(answer.headers["connection"], "close")
                await gatherResults(counter.gone)
        self.assertEqual(len(counter.gone), len(cases))
        self.assertEqual((counter.body_bytes, counter.temporary_files), (0, 0))

    async def test_a_valid_token_still_uploads_and_revocation_is_still_checked(self) -> None:
        """A real token's body is spooled and stored; a logged-out one is refused after it."""
        chat = await FileService.start(self)
        token, _ = await chat.register("alice")
        counter = SpoolCounter(self)
        status, upload = await chat.upload(token, b"y" * 200_000)
        self.assertEqual((status, upload["size"]), (201, 200_000))
        self.assertEqual(counter.body_bytes, 200_000)
        self.assertGreaterEqual(counter.temporary_files, 1)
        status, _ = await chat.json("POST", "/api/logout", token)
        self.assertEqual(status, 200)
        status, refused = await chat.upload(token, b"z" * 1000)
        self.assertEqual((status, refused["code"]), (401, "session_revoked"))
