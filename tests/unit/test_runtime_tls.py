"""mTLS between services (what the Helm chart mounts): internal services demand a client certificate
from the mesh's CA; the gateway takes TLS clients without one, since they authenticate by token."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.clients import open_channel
from services.runtime.server import start_server
from services.runtime.settings import Settings


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
                 *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(folder: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A mesh CA with a service certificate, and a stranger with a certificate from another CA."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_key, service_key, stranger_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    ca = _certificate("govshare-ca", ca_key, _name("govshare-ca"), ca_key, ca=True)
    other_ca = _certificate("other-ca", other_key, _name("other-ca"), other_key, ca=True)
    ca_path = folder / "ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    stranger = _write(folder, "stranger", _certificate("localhost", stranger_key, other_ca.subject, other_key,
                                                       ca=False), stranger_key)
    return {
        "ca": str(ca_path),
        "ca_pem": ca_path.read_bytes(),
        "stranger_pem": tuple(Path(p).read_bytes() for p in stranger),
        "service": _write(folder, "service", _certificate("localhost", service_key, ca.subject, ca_key, ca=False),
                          service_key),
    }


class _Component:
    name = "catalog"
    service_names = ("govshare.catalog.v1.CatalogService",)

    def register(self, server: grpc.aio.Server) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def _settings(pki: dict, component: str) -> Settings:
    cert, key = pki["service"]
    return Settings(component=component, internal_key=b"k" * 40, listen="localhost:0", tls_cert=cert, tls_key=key,
                    tls_ca=pki["ca"])


async def _check(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return response.status


@pytest.mark.parametrize("component", ["catalog", "gateway"])
async def test_mesh_peers_with_certificates_are_served(pki: dict, component: str) -> None:
    settings = _settings(pki, component)
    running = await start_server(settings, _Component())
    try:
        async with open_channel(f"localhost:{running.port}", settings) as channel:
            assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(0)


async def test_internal_services_refuse_clients_without_a_mesh_certificate(pki: dict) -> None:
    running = await start_server(_settings(pki, "catalog"), _Component())
    ca = pki["ca_pem"]
    stranger_cert, stranger_key = pki["stranger_pem"]
    try:
        for credentials in (grpc.ssl_channel_credentials(root_certificates=ca),
                            grpc.ssl_channel_credentials(root_certificates=ca, private_key=stranger_key,
                                                         certificate_chain=stranger_cert)):
            async with grpc.aio.secure_channel(f"localhost:{running.port}", credentials) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await _check(channel)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(f"localhost:{running.port}") as plaintext:
            with pytest.raises(grpc.aio.AioRpcError):
                await _check(plaintext)
    finally:
        await running.stop(0)


async def test_the_gateway_takes_tls_clients_without_a_certificate(pki: dict) -> None:
    running = await start_server(_settings(pki, "gateway"), _Component())
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca_pem"])
    try:
        async with grpc.aio.secure_channel(f"localhost:{running.port}", credentials) as channel:
            assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(0)
