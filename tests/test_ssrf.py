"""The SSRF guard: refused addresses, literal hosts at registration, names at delivery."""

from __future__ import annotations

import ipaddress

from twisted.internet.error import DNSLookupError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import URI

from chatservice.errors import InvalidRequest
from chatservice.hook_forms import parse_webhook_url
from chatservice.ssrf import (
    ForbiddenAddress,
    GuardedEndpointFactory,
    check_literal_host,
    refusal,
    vetted_address,
)
from tests.webhook_support import FakeResolver

REFUSED = (
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",
    "::127.0.0.1",
    "2002:7f00:1::1",
    "64:ff9b::7f00:1",
)
ALLOWED = ("8.8.8.8", "93.184.216.34", "2606:4700:4700::1111")


class RefusalTests(SynchronousTestCase):
    """Which addresses a webhook may never reach."""

    def test_loopback_private_link_local_and_mapped_addresses_are_refused(self) -> None:
        """Every non-global, multicast, mapped or tunnelled address has a reason."""
        for text in REFUSED:
            self.assertIsNotNone(refusal(ipaddress.ip_address(text)), text)

    def test_global_unicast_addresses_are_allowed(self) -> None:
        """Public IPv4 and IPv6 addresses pass."""
        for text in ALLOWED:
            self.assertIsNone(refusal(ipaddress.ip_address(text)), text)

    def test_the_reason_names_the_kind_of_address(self) -> None:
        """Mapped, loopback and link-local say so."""
        self.assertIn("IPv4-mapped", refusal(ipaddress.ip_address("::ffff:127.0.0.1")) or "")
        self.assertIn("loopback", refusal(ipaddress.ip_address("127.0.0.1")) or "")
        self.assertIn("link-local", refusal(ipaddress.ip_address("169.254.169.254")) or "")

    def test_literal_hosts_in_every_spelling_are_refused(self) -> None:
        """Bracketed IPv6, zone ids, and the C resolver's IPv4 shorthands are caught."""
        for host in (
            "127.0.0.1",
            "[::1]",
            "::ffff:127.0.0.1",
            "fe80::1%eth0",
            "2130706433",
            "0x7f.1",
            "127.1",
            "017700000001",
            "localhost",
            "LOCALHOST.",
            "api.localhost",
        ):
            self.assertRaises(ForbiddenAddress, check_literal_host, host)
        for host in ("hooks.example.com", "8.8.8.8", "2606:4700:4700::1111", "1e100.net"):
            check_literal_host(host)


class WebhookURLTests(SynchronousTestCase):
    """``parse_webhook_url``: the 400s a registration gets."""

    def url(self, url: str, allow_private: bool = False) -> str:
        """Parse ``{"url": url}``."""
        import json

        return parse_webhook_url(json.dumps({"url": url}).encode(), allow_private)

    def test_an_https_url_to_a_name_or_public_address_is_kept(self) -> None:
        """Names are checked at delivery; public literals pass now."""
        for url in (
            "https://hooks.example.com/chat?x=1",
            "https://8.8.8.8:8443/",
            "https://[2606:4700:4700::1111]/",
        ):
            self.assertEqual(self.url(url), url)

    def test_private_literals_are_refused_unless_allowed(self) -> None:
        """127.0.0.1, [::1], [::ffff:127.0.0.1], 2130706433, localhost: 400; allowed in tests."""
        for url in (
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost:9000/",
        ):
            error = self.assertRaises(InvalidRequest, self.url, url)
            self.assertIn("refused", error.message)
            self.assertEqual(self.url(url, allow_private=True), url)

    def test_other_schemes_credentials_fragments_and_junk_are_refused(self) -> None:
        """http, ftp, user:pass@, #fragment, spaces, bad ports, no host, too long: 400."""
        for url in (
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#x",
            "https://hooks example.com/",
            "https://hooks.example.com:99999/",
            "https://hooks.example.com:0/",
            "https:///path",
            "https://h\u00e9.example/",
            "https://a.example/" + "x" * 3000,
            "",
        ):
            self.assertRaises(InvalidRequest, self.url, url)


class DeliveryGuardTests(TestCase):
    """At delivery: resolve once, refuse any bad answer, connect to the vetted address."""

    async def test_a_name_resolving_to_a_refused_address_is_refused(self) -> None:
        """hooks.test -> each refused address: ForbiddenAddress naming name and address."""
        for address in REFUSED:
            resolver = FakeResolver({"hooks.test": [address]})
            try:
                await vetted_address(resolver, "hooks.test", 443, allow_private=False)
            except ForbiddenAddress as error:
                self.assertIn("hooks.test", str(error))
                self.assertIn(address, str(error))
            else:
                self.fail(f"{address} was not refused")

    async def test_one_bad_answer_among_good_ones_is_enough_to_refuse(self) -> None:
        """A public and a private address: refused, whichever would be used."""
        resolver = FakeResolver({"hooks.test": ["8.8.8.8", "10.0.0.1"]})
        with self.assertRaises(ForbiddenAddress):
            await vetted_address(resolver, "hooks.test", 443, allow_private=False)

    async def test_a_public_answer_is_used_and_allow_private_lets_any_through(self) -> None:
        """The first address is returned; with the setting on, a private one too."""
        public = FakeResolver({"hooks.test": ["93.184.216.34", "8.8.8.8"]})
        address = await vetted_address(public, "hooks.test", 443, allow_private=False)
        self.assertEqual((address.host, address.port), ("93.184.216.34", 443))
        private = FakeResolver({"hooks.test": ["127.0.0.1"]})
        address = await vetted_address(private, "hooks.test", 443, allow_private=True)
        self.assertEqual(address.host, "127.0.0.1")

    async def test_a_name_without_an_address_is_a_lookup_error(self) -> None:
        """No answer: DNSLookupError."""
        with self.assertRaises(DNSLookupError):
            await vetted_address(FakeResolver({}), "nowhere.test", 443, allow_private=False)

    def test_the_connection_goes_to_the_vetted_address_not_a_second_lookup(self) -> None:
        """The endpoint resolves once and connects to that IP, with the connect timeout."""
        reactor = MemoryReactorClock()
        resolver = FakeResolver({"hooks.test": ["93.184.216.34"]})
        factory = GuardedEndpointFactory(reactor, resolver, connect_timeout=3.0)
        endpoint = factory.endpointForURI(URI.fromBytes(b"http://hooks.test:8080/x"))
        endpoint.connect(Factory.forProtocol(Protocol))
        self.assertEqual(resolver.asked, ["hooks.test"])
        [(host, port, _, timeout, _)] = reactor.tcpClients
        self.assertEqual((host, port, timeout), ("93.184.216.34", 8080, 3.0))

    def test_a_refused_name_never_connects(self) -> None:
        """hooks.test -> ::ffff:127.0.0.1: the connect fails with ForbiddenAddress, no socket."""
        reactor = MemoryReactorClock()
        resolver = FakeResolver({"hooks.test": ["::ffff:127.0.0.1"]})
        factory = GuardedEndpointFactory(reactor, resolver)
        endpoint = factory.endpointForURI(URI.fromBytes(b"https://hooks.test/"))
        self.failureResultOf(endpoint.connect(Factory.forProtocol(Protocol)), ForbiddenAddress)
        self.assertEqual(reactor.tcpClients, [])
