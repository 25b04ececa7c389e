"""HTTP plumbing: the early body limit, the root resource on a real Site, CORS policy."""

from __future__ import annotations

import inspect
import json
from io import BytesIO
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site
from twisted.web.test.requesthelper import DummyRequest

from chatservice import bodylimit
from chatservice import http as http_module
from chatservice.bodylimit import (
    LINGER_MAX_BYTES,
    LINGER_SECONDS,
    LimitedRequest,
    limited_request_factory,
)
from chatservice.errors import PayloadTooLarge, RateLimited
from chatservice.http import (
    CorsPolicy,
    client_address,
    close_after_response,
    read_body,
    respond_error,
    respond_json,
)
from tests.fakes import make_service

LIMIT = 100


class Echo(Resource):
    """Answers 200 with how many body bytes it was given."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bytes] = []

    def render_POST(self, request: Request) -> bytes:
        assert request.content is not None
        body = request.content.read()
        self.seen.append(body)
        return b"got %d" % len(body)


class HalfCloseableTransport(StringTransport):
    """A StringTransport that, like TCP, can shut its write side alone."""

    write_closed = False

    def loseWriteConnection(self) -> None:  # noqa: N802 - Twisted's name
        """Record the half-close."""
        self.write_closed = True


class Exchange:
    """One HTTP connection to a Site over a (half-closeable) StringTransport."""

    def __init__(self, site: Site) -> None:
        self.transport = HalfCloseableTransport()
        channel = site.buildProtocol(None)
        assert channel is not None
        self.channel = channel
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def output(self) -> bytes:
        return bytes(self.transport.value())

    def close(self) -> None:
        self.channel.connectionLost(Failure(ConnectionDone()))

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    @property
    def aborted(self) -> bool:
        return bool(self.transport.disconnected)

    @property
    def write_closed(self) -> bool:
        return self.transport.write_closed


def split_response(raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Parse one HTTP/1.1 response with a Content-Length: status, headers, body."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            body, rest = body + rest[:size], rest[size + 2 :]
    else:
        body = rest[: int(headers.get(b"content-length", len(rest)))]
    return int(status_line.split(b" ")[1]), headers, body


def post_head(length: int | None = None, *extra: bytes, path: bytes = b"/") -> bytes:
    """The request line and headers of a POST; chunked when ``length`` is None."""
    lines = [b"POST " + path + b" HTTP/1.1", b"Host: chat.test"]
    if length is None:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Length: %d" % length)
    lines.extend(extra)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class LimitedSiteCase(SynchronousTestCase):
    """A test case that talks to an ``Echo`` site whose bodies are limited to ``LIMIT``."""

    def setUp(self) -> None:
        self.echo = Echo()
        self.clock = Clock()
        self.site = Site(self.echo, reactor=self.clock)
        self.site.requestFactory = limited_request_factory(LIMIT)
        self.exchange = Exchange(self.site)
        self.addCleanup(self.exchange.close)


class LimitedRequestTests(LimitedSiteCase):
    """``LimitedRequest`` refuses oversized bodies while they arrive."""

    def assert_413(self) -> None:
        """One JSON 413 answer, ``Connection: close``, then a lingering close.

        The write side is shut at once; the read side stays open (a full
        close while the client still sends would reset the connection).
        """
        status, headers, body = split_response(self.exchange.output())
        self.assertEqual(status, 413)
        self.assertEqual(headers[b"content-type"], b"application/json")
        self.assertEqual(headers[b"connection"], b"close")
        self.assertEqual(int(headers[b"content-length"]), len(body))
        self.assertEqual(json.loads(body)["code"], "payload_too_large")
        self.assertEqual(self.exchange.output().count(b"HTTP/1.1 "), 1)
        self.assertTrue(self.exchange.write_closed)
        self.assertFalse(self.exchange.closed)
        self.assertEqual(self.echo.seen, [])

    def test_factory_sets_the_limit(self) -> None:
        """The factory returns a LimitedRequest subclass carrying the limit."""
        factory = limited_request_factory(1234)
        self.assertTrue(issubclass(factory, LimitedRequest))
        self.assertEqual(factory.max_body, 1234)
        self.assertEqual(LimitedRequest.max_body, 65536)

    def test_content_length_over_the_limit_is_413_before_the_body(self) -> None:
        """A declared length over the limit is answered 413 with no body byte sent."""
        self.exchange.send(post_head(LIMIT + 1))
        self.assert_413()

    def test_body_sent_after_a_refusal_is_dropped(self) -> None:
        """Bytes that arrive after the 413 reach no resource and get no second answer."""
        self.exchange.send(post_head(LIMIT + 1))
        self.exchange.send(b"x" * (LIMIT + 1))
        self.assert_413()

    def test_expect_continue_is_not_answered_after_a_refusal(self) -> None:
        """With ``Expect: 100-continue`` the only answer is the 413, never a 100 after it."""
        self.exchange.send(post_head(LIMIT + 1, b"Expect: 100-continue"))
        self.assertNotIn(b"100 Continue", self.exchange.output())
        self.assert_413()

    def test_content_length_at_the_limit_is_accepted(self) -> None:
        """A body of exactly the limit reaches the resource."""
        self.exchange.send(post_head(LIMIT) + b"x" * LIMIT)
        status, _, body = split_response(self.exchange.output())
        self.assertEqual((status, body), (200, b"got %d" % LIMIT))
        self.assertFalse(self.exchange.closed)

    def test_chunked_body_over_the_limit_is_cut_off(self) -> None:
        """A chunked body is refused with 413 as soon as it passes the limit."""
        self.exchange.send(post_head(None) + chunk(b"x" * 60))
        self.assertEqual(self.exchange.output(), b"")
        self.exchange.send(chunk(b"x" * 41))
        self.assert_413()
        self.exchange.send(chunk(b"x" * 10) + b"0\r\n\r\n")
        self.assert_413()

    def test_chunked_body_at_the_limit_is_accepted(self) -> None:
        """A chunked body of exactly the limit reaches the resource."""
        self.exchange.send(post_head(None) + chunk(b"x" * 60) + chunk(b"x" * 40) + b"0\r\n\r\n")
        status, _, body = split_response(self.exchange.output())
        self.assertEqual((status, body), (200, b"got %d" % LIMIT))
        self.assertEqual(self.echo.seen, [b"x" * LIMIT])

    def test_small_requests_keep_the_connection(self) -> None:
        """Requests under the limit are answered in turn on one connection."""
        self.exchange.send(post_head(3) + b"abc")
        self.exchange.send(post_head(2) + b"de")
        self.assertEqual(self.echo.seen, [b"abc", b"de"])
        self.assertFalse(self.exchange.closed)
        self.assertFalse(self.exchange.write_closed)


class LingeringCloseTests(LimitedSiteCase):
    """After an early 413 the rest of the upload is read and dropped, within bounds."""

    def setUp(self) -> None:
        super().setUp()
        self.exchange.send(post_head(LIMIT + 1))
        self.answer = self.exchange.output()
        self.assertTrue(self.answer.startswith(b"HTTP/1.1 413 "))

    def test_input_is_dropped_until_the_time_bound_then_aborted(self) -> None:
        """The connection is aborted ``LINGER_SECONDS`` after the refusal, not before."""
        self.clock.advance(LINGER_SECONDS - 0.001)
        self.exchange.send(b"x" * 1000)
        self.assertFalse(self.exchange.closed)
        self.clock.advance(0.001)
        self.assertTrue(self.exchange.aborted)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_input_is_dropped_up_to_the_size_bound_then_aborted(self) -> None:
        """Up to ``LINGER_MAX_BYTES`` after the refusal are dropped; one byte more aborts."""
        piece = b"x" * (1024 * 1024)
        for _ in range(LINGER_MAX_BYTES // len(piece)):
            self.exchange.send(piece)
        self.exchange.send(b"x" * (LINGER_MAX_BYTES % len(piece)))
        self.assertFalse(self.exchange.closed)
        self.exchange.send(b"x")
        self.assertTrue(self.exchange.aborted)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_client_close_ends_the_linger(self) -> None:
        """When the client closes first, the linger timer is cancelled."""
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.exchange.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.exchange.aborted)

    def test_dropped_input_is_neither_parsed_nor_kept(self) -> None:
        """Bytes after the refusal, even whole requests, make no request and stay nowhere."""
        pipelined = post_head(3) + b"abc" + b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n"
        self.exchange.send(b"x" * (LIMIT + 1) + pipelined * 100)
        self.exchange.send(pipelined * 100)
        self.assertEqual(self.exchange.output(), self.answer)
        self.assertEqual(self.echo.seen, [])
        channel: Any = self.exchange.channel._channel  # the HTTPChannel inside Site's wrapper
        self.assertEqual(len(channel.requests), 1)
        # The HTTP parser's own buffers (Twisted internals) hold nothing.
        self.assertEqual(channel._buffer, b"")
        self.assertEqual(channel._dataBuffer, [])

    def test_chunked_refusal_lingers_too(self) -> None:
        """A chunked body cut off at the limit gets the same lingering close."""
        exchange = Exchange(self.site)
        self.addCleanup(exchange.close)
        exchange.send(post_head(None) + chunk(b"x" * (LIMIT + 1)) + chunk(b"y" * 10))
        self.assertTrue(exchange.output().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(exchange.write_closed)
        self.assertFalse(exchange.closed)
        exchange.send(chunk(b"z" * 1000) + b"0\r\n\r\n" + post_head(3) + b"abc")
        self.assertEqual(exchange.output().count(b"HTTP/1.1 "), 1)
        self.assertEqual(self.echo.seen, [])

    def test_transport_without_half_close_still_lingers(self) -> None:
        """Without ``loseWriteConnection`` (e.g. TLS), input is still drained until a bound."""
        channel = self.site.buildProtocol(None)
        assert channel is not None
        transport = StringTransport()
        channel.makeConnection(transport)
        self.addCleanup(channel.connectionLost, Failure(ConnectionDone()))
        channel.dataReceived(post_head(LIMIT + 1) + b"x" * 1000)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertFalse(transport.disconnecting)
        self.clock.advance(LINGER_SECONDS)
        self.assertTrue(transport.disconnected)


class ServiceSiteTests(SynchronousTestCase):
    """The service's own ``Site``: the root resource behind ``LimitedRequest``."""

    def setUp(self) -> None:
        self.service, _ = make_service(max_body_bytes=2048)
        self.addCleanup(lambda: self.successResultOf(self.service.stopService()))
        self.exchange = Exchange(self.service.site())
        self.addCleanup(self.exchange.close)

    def register(self, *headers: bytes) -> tuple[int, dict[bytes, bytes], Any]:
        body = b'{"username": "alice", "password": "correct horse"}'
        self.exchange.send(post_head(len(body), *headers, path=b"/api/register") + body)
        status, response_headers, response_body = split_response(self.exchange.output())
        return status, response_headers, json.loads(response_body)

    def test_site_limits_bodies_to_max_body_bytes(self) -> None:
        """The service's Site makes LimitedRequests with the configured limit."""
        factory: Any = self.service.site().requestFactory
        self.assertTrue(issubclass(factory, LimitedRequest))
        self.assertEqual(factory.max_body, 2048)

    def test_json_body_with_multipart_content_type_is_accepted(self) -> None:
        """A JSON body labelled ``multipart/form-data`` is still read as JSON, not refused."""
        status, headers, body = self.register(b"Content-Type: multipart/form-data; boundary=x")
        self.assertEqual(status, 201, body)
        self.assertEqual(headers[b"content-type"], b"application/json")

    def test_json_body_with_form_content_type_is_accepted(self) -> None:
        """A JSON body labelled as a URL-encoded form is still read as JSON."""
        status, _, body = self.register(b"Content-Type: application/x-www-form-urlencoded")
        self.assertEqual(status, 201, body)

    def test_oversized_body_is_413_on_the_service_site(self) -> None:
        """The service's Site applies MAX_BODY_BYTES before the body is read."""
        self.exchange.send(post_head(2049, path=b"/api/register"))
        status, _, body = split_response(self.exchange.output())
        self.assertEqual((status, json.loads(body)["code"]), (413, "payload_too_large"))
        self.assertTrue(self.exchange.write_closed)

    def test_json_answers_are_sized_not_chunked(self) -> None:
        """Routes answer with a Content-Length, never ``Transfer-Encoding: chunked``."""
        status, headers, body = self.register()
        self.assertEqual(status, 201, body)
        self.assertNotIn(b"transfer-encoding", headers)
        raw_body = self.exchange.output().partition(b"\r\n\r\n")[2]
        self.assertEqual(int(headers[b"content-length"]), len(raw_body))

    def test_preflight_is_a_204_without_length_or_chunking(self) -> None:
        """A 204 has no body: neither Content-Length (RFC 9110, 8.6) nor chunking."""
        self.exchange.send(
            b"OPTIONS /api/rooms HTTP/1.1\r\nHost: chat.test\r\n"
            b"Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n"
        )
        status, headers, body = split_response(self.exchange.output())
        self.assertEqual((status, body), (204, b""))
        self.assertNotIn(b"content-length", headers)
        self.assertNotIn(b"transfer-encoding", headers)
        self.assertTrue(self.exchange.output().endswith(b"\r\n\r\n"))
        self.assertFalse(self.exchange.closed)

    def test_non_utf8_host_is_400_json(self) -> None:
        """A Host header that is not UTF-8 is a JSON 400, not an HTML page or a logged error."""
        self.exchange.send(b"GET /health HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n")
        status, headers, body = split_response(self.exchange.output())
        self.assertEqual(status, 400)
        self.assertIn(b"application/json", headers[b"content-type"])


class HostSiteTests(SynchronousTestCase):
    """The root resource mounted in a host's plain ``Site`` (no ``LimitedRequest``)."""

    def setUp(self) -> None:
        self.service, _ = make_service(max_body_bytes=2048)
        self.addCleanup(lambda: self.successResultOf(self.service.stopService()))
        resource: IResource = self.service.resource()
        self.exchange = Exchange(Site(resource, reactor=Clock()))
        self.addCleanup(self.exchange.close)

    def test_content_length_over_the_limit_is_413(self) -> None:
        """The root resource refuses a declared length over the limit itself, sized."""
        self.exchange.send(post_head(2049, path=b"/api/register") + b" " * 2049)
        output = self.exchange.output()
        self.assertTrue(output.startswith(b"HTTP/1.1 413 "), output[:80])
        self.assertIn(b'"payload_too_large"', output)
        status, headers, body = split_response(output)
        self.assertNotIn(b"transfer-encoding", headers)
        self.assertEqual(int(headers[b"content-length"]), len(body))

    def test_chunked_body_over_the_limit_is_413(self) -> None:
        """Without a Content-Length, the route refuses a body over the limit when it reads it."""
        body = b'{"username": "alice", "password": "correct horse"}'
        body += b" " * (2049 - len(body))
        self.exchange.send(post_head(None, path=b"/api/register") + chunk(body) + b"0\r\n\r\n")
        output = self.exchange.output()
        self.assertTrue(output.startswith(b"HTTP/1.1 413 "), output[:80])
        self.assertIn(b'"payload_too_large"', output)

    def test_chunked_body_at_the_limit_is_accepted(self) -> None:
        """Without a Content-Length, a body of exactly the limit is handled."""
        body = b'{"username": "alice", "password": "correct horse"}'
        body += b" " * (2048 - len(body))
        self.exchange.send(post_head(None, path=b"/api/register") + chunk(body) + b"0\r\n\r\n")
        self.assertTrue(self.exchange.output().startswith(b"HTTP/1.1 201 "))


class ReadBodyTests(SynchronousTestCase):
    """``read_body``: the limit as a route sees it."""

    def request_with(self, body: bytes) -> Any:
        request: Any = DummyRequest([b""])
        request.content = BytesIO(body)
        request.content.seek(len(body))  # wherever the channel left it
        return request

    def test_body_is_read_from_the_start(self) -> None:
        """The whole body comes back, whatever the stream's position."""
        self.assertEqual(read_body(self.request_with(b"hello"), 5), b"hello")

    def test_body_over_the_limit_raises(self) -> None:
        """One byte over the limit raises ``PayloadTooLarge``."""
        self.assertRaises(PayloadTooLarge, read_body, self.request_with(b"hello!"), 5)


class RespondErrorTests(SynchronousTestCase):
    """``respond_error``: one place renders every error."""

    def test_error_sets_status_type_and_body(self) -> None:
        """The status, JSON content type and ``{"error", "code"}`` body come from the error."""
        request: Any = DummyRequest([b""])
        body = respond_error(request, PayloadTooLarge())
        self.assertEqual(request.responseCode, 413)
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-type"), [b"application/json"]
        )
        self.assertEqual(json.loads(body)["code"], "payload_too_large")

    def test_json_answer_carries_its_length(self) -> None:
        """``respond_json`` sets Content-Length, so Twisted does not chunk the body."""
        request: Any = DummyRequest([b""])
        body = respond_json(request, 200, b'{"a":1}')
        self.assertEqual(request.responseHeaders.getRawHeaders(b"content-length"), [b"7"])
        self.assertEqual(body, b'{"a":1}')

    def test_error_carries_its_length(self) -> None:
        """``respond_error`` sizes its body too."""
        request: Any = DummyRequest([b""])
        body = respond_error(request, PayloadTooLarge())
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-length"), [b"%d" % len(body)]
        )

    def test_rate_limited_sets_retry_after(self) -> None:
        """A 429 carries ``Retry-After`` in whole seconds."""
        request: Any = DummyRequest([b""])
        respond_error(request, RateLimited(retry_after=7))
        self.assertEqual(request.responseCode, 429)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"retry-after"), [b"7"])


class CloseAfterResponseTests(SynchronousTestCase):
    """``close_after_response``: Twisted only honours the request's Connection header."""

    def test_answer_says_close_and_the_connection_closes(self) -> None:
        """The answer carries ``Connection: close`` and the channel closes after it."""

        class Closing(Resource):
            isLeaf = True

            def render_GET(self, request: Request) -> bytes:
                close_after_response(request)
                return respond_json(request, 401, b"{}")

        exchange = Exchange(Site(Closing(), reactor=Clock()))
        self.addCleanup(exchange.close)
        exchange.send(b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n")
        status, headers, _ = split_response(exchange.output())
        self.assertEqual((status, headers[b"connection"]), (401, b"close"))
        self.assertTrue(exchange.closed)

    def test_header_alone_would_not_close(self) -> None:
        """Why the channel is marked too: a ``Connection: close`` header alone keeps it open."""

        class HeaderOnly(Resource):
            isLeaf = True

            def render_GET(self, request: Request) -> bytes:
                request.setHeader(b"connection", b"close")
                return b"{}"

        exchange = Exchange(Site(HeaderOnly(), reactor=Clock()))
        self.addCleanup(exchange.close)
        exchange.send(b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n")
        self.assertIn(b"Connection: close", exchange.output())
        self.assertFalse(exchange.closed)


class CorsPolicyTests(SynchronousTestCase):
    """``CorsPolicy``: which browser origins may call the API."""

    def test_star_allows_any_origin_and_answers_star(self) -> None:
        """With ``*`` every origin, ``null`` included, is allowed and the value is ``*``."""
        policy = CorsPolicy(("*",))
        for origin in ("https://a.example", "null", "http://127.0.0.1:9"):
            self.assertTrue(policy.allows(origin))
            self.assertEqual(policy.allow_origin_value(origin), b"*")

    def test_list_allows_only_its_origins(self) -> None:
        """With a list, only listed origins are allowed."""
        policy = CorsPolicy(("https://app.example", "http://localhost:3000"))
        self.assertTrue(policy.allows("https://app.example"))
        self.assertTrue(policy.allows("http://localhost:3000"))
        for origin in (
            "https://evil.example",
            "http://app.example",
            "https://app.example:444",
            "https://app.example.evil",
            "null",
            "",
        ):
            self.assertFalse(policy.allows(origin), origin)

    def test_origins_compare_case_insensitively(self) -> None:
        """Scheme and host are case-insensitive; a trailing slash does not matter."""
        policy = CorsPolicy(("https://App.Example",))
        self.assertTrue(policy.allows("https://app.example"))
        self.assertTrue(policy.allows("HTTPS://APP.EXAMPLE/"))

    def test_listed_origin_is_echoed(self) -> None:
        """A listed origin's allow value is the origin itself."""
        policy = CorsPolicy(("https://app.example",))
        self.assertEqual(policy.allow_origin_value("https://app.example"), b"https://app.example")


class ClientAddressTests(SynchronousTestCase):
    """``client_address``: the TCP peer, or the trusted hop of ``X-Forwarded-For``."""

    def request(self, *lines: str) -> Any:  # a DummyRequest, as an IRequest
        request = DummyRequest([b"api"])
        request.client = IPv4Address("TCP", "192.0.2.1", 40000)
        for line in lines:
            request.requestHeaders.addRawHeader(b"x-forwarded-for", line.encode("latin-1"))
        return request

    def test_every_header_line_counts_in_order(self) -> None:
        """Two proxies that each add their own line: the hops are read across both lines.

        (HAProxy's ``option forwardfor`` adds a line instead of appending to one.)
        """
        request = self.request("203.0.113.7", "10.0.0.2")
        self.assertEqual(client_address(request, 2), "203.0.113.7")
        self.assertEqual(client_address(request, 1), "10.0.0.2")

    def test_untrusted_or_too_short_falls_back_to_the_peer(self) -> None:
        """No trust, or fewer hops than trusted proxies: the TCP peer."""
        request = self.request("203.0.113.7")
        self.assertEqual(client_address(request, 0), "192.0.2.1")
        self.assertEqual(client_address(request, 2), "192.0.2.1")


class ModuleSizeTests(SynchronousTestCase):
    """The HTTP plumbing stays split by job, each module under the house limit."""

    def test_http_modules_stay_small(self) -> None:
        """``http.py`` (routes' plumbing) and ``bodylimit.py`` (early refusals): ~400 lines."""
        for module in (http_module, bodylimit):
            with self.subTest(module=module.__name__):
                source = inspect.getsource(module)
                self.assertLessEqual(source.count("\n"), 400)
