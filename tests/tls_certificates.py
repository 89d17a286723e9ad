"""A private CA and a certificate for ``localhost`` and 127.0.0.1 it signed, for tests of TLS clients against a
stand-in server."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def tls_pair(*, expired: bool = False) -> tuple[bytes, bytes, bytes]:
    """A CA certificate, and a certificate for ``localhost`` and 127.0.0.1 it signed with its key (all PEM). A test
    server bound to ``localhost:0`` may get a port free on one address family only, and a client dialling
    ``localhost`` then reaches whatever else listens on that port in the other: such a test binds and dials
    127.0.0.1. ``expired``: the server's certificate ended yesterday (the CA's is still valid)."""
    now = dt.datetime.now(dt.UTC)
    ended = dt.timedelta(days=2) if expired else dt.timedelta(0)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject: str, public: PublicKeyTypes, ca: bool) -> x509.Certificate:
        start = now - (dt.timedelta(0) if ca else ended)
        builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name("edge-ca"))
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(start - dt.timedelta(minutes=1)).not_valid_after(start + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    return (certificate("edge-ca", ca_key.public_key(), True).public_bytes(pem),
            certificate("localhost", key.public_key(), False).public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
