"""mTLS between services (what the Helm chart mounts): internal services demand a client certificate
from the mesh's CA; the gateway takes TLS clients without one, since they authenticate by token."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from govshare.catalog.v1 import catalog_pb2  # noqa: F401  (the service _Component names: health and reflection)
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
    renewed_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": str(ca_path),
        "ca_pem": ca_path.read_bytes(),
        "renewed": _write(folder, "renewed", _certificate("localhost", renewed_key, ca.subject, ca_key, ca=False),
                          renewed_key),
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


#: A service process as `govshare serve` runs it (``_worker``: uvloop, signals, the drain), with a component that
#: needs no database, and the renewal checked every 0.2 s and not spread.
_SERVE = """
import sys
from govshare.catalog.v1 import catalog_pb2
from services.runtime import server, tls_renewal
from services.runtime.settings import Settings
tls_renewal.CHECK_SECONDS, tls_renewal.SPREAD_SECONDS = 0.2, 0.0
class Component:
    name = "catalog"
    service_names = ("govshare.catalog.v1.CatalogService",)
    def register(self, server): pass
    async def start(self): pass
    async def stop(self): pass
cert, key, ca, port = sys.argv[1:]
server._worker(Settings(component="catalog", internal_key=b"k" * 40, listen=f"localhost:{port}", tls_cert=cert,
                        tls_key=key, tls_ca=ca, drain_grace_seconds=0, drain_timeout_seconds=2),
               lambda settings: Component())
"""


def _swap(folder: Path, cert: str, key: str) -> None:
    """What the kubelet does with a renewed Secret: a new directory of files, then the ``..data`` link swapped."""
    new = folder / f"..{time.time_ns()}"
    new.mkdir()
    shutil.copy(cert, new / "tls.crt")
    shutil.copy(key, new / "tls.key")
    link = folder / "..data_tmp"
    link.symlink_to(new.name)
    os.replace(link, folder / "..data")


async def test_a_service_restarts_itself_on_a_renewed_certificate_and_not_on_a_broken_one(
        pki: dict, tmp_path: Path, unused_tcp_port: int) -> None:
    """A service read its certificate once, at start: cert-manager renewed it and the kubelet swapped the files,
    and the process kept the old one until it expired, when every call between services failed. Now a renewal
    drains the process and it exits (its container, or its parent's worker supervision, starts it again with the
    new files); files that do not load (here a key not of the certificate) leave it serving as it was."""
    mounted = tmp_path / "tls"
    mounted.mkdir()
    _swap(mounted, *pki["service"])
    for name in ("tls.crt", "tls.key"):
        (mounted / name).symlink_to(f"..data/{name}")
    settings = _settings(pki, "catalog")
    process = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-c", _SERVE, str(mounted / "tls.crt"), str(mounted / "tls.key"), pki["ca"],
                           str(unused_tcp_port)], stderr=subprocess.PIPE, text=True)
    try:
        async with open_channel(f"localhost:{unused_tcp_port}", settings) as channel:
            for _ in range(100):
                try:
                    if await _check(channel) == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
            _swap(mounted, pki["service"][0], pki["renewed"][1])  # the renewed key beside the old certificate
            await asyncio.sleep(1.0)
            assert process.poll() is None
            assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING
        _swap(mounted, *pki["renewed"])
        exit_code = await asyncio.to_thread(process.wait, 15)
    finally:
        process.kill()
        log = process.stderr.read() if process.stderr else ""
    assert exit_code == 0, log
    assert "do not load" in log and "still serving with the certificate read at start" in log
    assert "the TLS certificate was renewed: restarting in 0 s" in log and "catalog stopped" in log


_CONSOLE = """
from services.runtime import tls_renewal
tls_renewal.CHECK_SECONDS, tls_renewal.SPREAD_SECONDS = 0.2, 0.0
from console.__main__ import main
main()
"""


def _https_ok(port: int, ca: str) -> bool:
    context = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(f"https://localhost:{port}/healthz", context=context, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


async def test_the_console_restarts_itself_on_a_renewed_certificate(pki: dict, tmp_path: Path,
                                                                  unused_tcp_port: int) -> None:
    """uvicorn read the console's certificate once: after a renewal browsers were served the old one until it
    expired. Now the console stops as on SIGTERM (exit 0) and its container starts it again with the new files."""
    mounted = tmp_path / "tls"
    mounted.mkdir()
    _swap(mounted, *pki["service"])
    for name in ("tls.crt", "tls.key"):
        (mounted / name).symlink_to(f"..data/{name}")
    env = {**os.environ, "GOVSHARE_CONSOLE_LISTEN": f"127.0.0.1:{unused_tcp_port}",
           "GOVSHARE_CONSOLE_GATEWAY": "127.0.0.1:1", "GOVSHARE_CONSOLE_TLS_CERT": str(mounted / "tls.crt"),
           "GOVSHARE_CONSOLE_TLS_KEY": str(mounted / "tls.key")}
    process = await asyncio.to_thread(subprocess.Popen, [sys.executable, "-c", _CONSOLE], env=env,
                                      stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if await asyncio.to_thread(_https_ok, unused_tcp_port, pki["ca"]):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the console did not serve HTTPS")
        _swap(mounted, *pki["renewed"])
        exit_code = await asyncio.to_thread(process.wait, 15)
    finally:
        process.kill()
        log = process.stderr.read() if process.stderr else ""
    assert exit_code == 0, log
    assert "console: the TLS certificate was renewed" in log


def _serial(certificate_file: str) -> int:
    return x509.load_pem_x509_certificate(Path(certificate_file).read_bytes()).serial_number


def _served_serial(port: int, pki: dict) -> int:
    """The serial number of the certificate a new connection is shown (connecting with a certificate of the CA)."""
    context = ssl.create_default_context(cafile=pki["ca"])
    context.load_cert_chain(*pki["service"])
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("localhost", port)) as raw, context.wrap_socket(raw, server_hostname="localhost") \
            as connection:
        certificate = connection.getpeercert(binary_form=True)
    assert certificate is not None
    return x509.load_der_x509_certificate(certificate).serial_number


async def test_the_frontproc_serves_a_renewed_certificate_without_restarting(
        pki: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 前置机 read its certificate once, at start: a department that renewed it (the files swapped, as the kubelet
    or a rename into place does) kept presenting the old one, and from its expiry every platform call failed the
    handshake, until someone restarted the 前置机 (nothing restarts a 前置机 that exits: it runs where its department
    runs it). A new connection now gets the renewed certificate; files that do not load change nothing."""
    from frontproc.tls import RenewingCertificate
    from services.runtime.tls_renewal import TlsFiles

    mounted = tmp_path / "tls"
    mounted.mkdir()
    _swap(mounted, *pki["service"])
    for name in ("tls.crt", "tls.key"):
        (mounted / name).symlink_to(f"..data/{name}")
    files = TlsFiles(str(mounted / "tls.crt"), str(mounted / "tls.key"), pki["ca"])
    settings = Settings(component="frontproc", listen="localhost:0", tls_cert=files.cert, tls_key=files.key,
                        tls_ca=files.ca)
    running = await start_server(settings, _Component(), credentials=RenewingCertificate(files).credentials())
    serial_of = {name: _serial(pki[name][0]) for name in ("service", "renewed")}
    try:
        assert await asyncio.to_thread(_served_serial, running.port, pki) == serial_of["service"]
        _swap(mounted, pki["service"][0], pki["renewed"][1])  # the renewed key beside the old certificate
        with caplog.at_level(logging.ERROR, logger="frontproc.tls"):
            assert await asyncio.to_thread(_served_serial, running.port, pki) == serial_of["service"]
        assert "do not load" in caplog.text
        _swap(mounted, *pki["renewed"])
        assert await asyncio.to_thread(_served_serial, running.port, pki) == serial_of["renewed"]
        async with open_channel(f"localhost:{running.port}", _settings(pki, "catalog")) as channel:  # the platform
            assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(0)
