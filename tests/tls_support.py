"""The HTTPS servers of the tests (webhook receivers, push services): a certificate, a TLS port.

The service's agents are told to trust exactly this certificate
(``trustRoot``), so a test exercises real TLS on 127.0.0.1 without any
certificate authority. P-256 keys: quick to make in every test.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.internet.ssl import PrivateCertificate


@dataclass
class Certificate:
    """A self-signed certificate for ``name`` and its key, in PEM."""

    name: str
    cert_pem: bytes
    key_pem: bytes

    async def serve(self, factory: IProtocolFactory, port: int = 0) -> IListeningPort:
        """Listen with TLS on 127.0.0.1 (on ``port``, or one the kernel picks), as ``name``."""
        options = PrivateCertificate.loadPEM(self.key_pem + self.cert_pem).options()
        endpoint = SSL4ServerEndpoint(reactor, port, options, interface="127.0.0.1")
        listening: IListeningPort = await endpoint.listen(factory)
        return listening


def self_signed(name: str) -> Certificate:
    """A certificate for ``name`` (its CN and DNS name), valid from an hour ago for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Certificate(name, cert.public_bytes(serialization.Encoding.PEM), key_pem)
