"""The 前置机's TLS certificate, read again when its files are renewed: no restart, no outage.

A 前置机 read its certificate, key and CA once, at start. A department renewing its certificate before it expired
(the platform's CA issues it, docs/deploy.md) saw nothing change: the 前置机 went on presenting the old one, and
from its expiry every platform call failed its TLS handshake (UNAVAILABLE for every query of the department's
resources) until someone restarted it. The platform's own services restart themselves on a renewal
(services/runtime/tls_renewal.py) because Kubernetes starts them again; a 前置机 runs where its department runs it
(a terminal, systemd), so it takes the renewed files in process instead: grpc asks for the certificate at each new
connection, and gets the renewed one once the files changed and load. Files that do not load (a key not of the
certificate, half copied) are logged as an error and the certificate served so far stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from services.runtime.tls_renewal import TlsFiles, fingerprint, load_problem

log = logging.getLogger(__name__)


class RenewingCertificate:
    """Server credentials requiring a client certificate of the CA, following renewals of the files."""

    def __init__(self, files: TlsFiles) -> None:
        self._files = files
        self._served = fingerprint(files)
        #: Files found not to load: not tried (nor logged) again until they change.
        self._refused: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(self._configuration(), self._renewed,
                                                   require_client_authentication=True)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        files = self._files
        return grpc.ssl_server_certificate_configuration(
            [(Path(files.key).read_bytes(), Path(files.cert).read_bytes())],
            root_certificates=Path(files.ca).read_bytes())

    def _renewed(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by grpc before each new connection's handshake: the renewed files, once they changed and load;
        None keeps what is served (files unchanged, being swapped, or broken)."""
        try:
            now = fingerprint(self._files)
            if now is None or now in (self._served, self._refused):
                return None
            if problem := load_problem(self._files):
                self._refused = now
                log.error("frontproc: the TLS files changed but do not load (%s): still serving the certificate "
                          "served so far; fix %s", problem, ", ".join((self._files.cert, self._files.key,
                                                                        self._files.ca)))
                return None
            configuration = self._configuration()
        except Exception:  # raised into grpc's handshake, it would refuse the connection
            log.exception("frontproc: the TLS files could not be read again; still serving the certificate served "
                          "so far")
            return None
        self._served = now
        log.info("frontproc: the TLS certificate was renewed: new connections use it")
        return configuration
