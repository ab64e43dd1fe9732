"""The sandbox's own certificate authority, generated at start-up.

One CA (RSA, so that the Anaplan user certificate it signs can produce PKCS#1 v1.5 signatures)
issues the HTTPS server certificate for ``127.0.0.1``/``localhost`` and the Anaplan integration
user's client certificate. The CA certificate is written to ``ca.pem`` in the sandbox's work
directory; clients trust the sandbox by pointing at that file.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

ANAPLAN_USER_IDENTITY = "anaplan-integration@example.com"


@dataclass
class SandboxTls:
    ca: trustme.CA
    ca_path: Path
    server_context: ssl.SSLContext
    anaplan_cert_path: Path
    anaplan_key_path: Path

    @classmethod
    def create(cls, workdir: Path) -> SandboxTls:
        ca = trustme.CA(key_type=trustme.KeyType.RSA, organization_name="BC-Anaplan Sandbox CA")
        ca_path = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        server_cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(context)
        user = ca.issue_cert(
            ANAPLAN_USER_IDENTITY, common_name=ANAPLAN_USER_IDENTITY, key_type=trustme.KeyType.RSA
        )
        cert_path = workdir / "anaplan-user.pem"
        key_path = workdir / "anaplan-user.key"
        cert_path.write_bytes(user.cert_chain_pems[0].bytes())
        key_path.write_bytes(user.private_key_pem.bytes())
        key_path.chmod(0o600)
        return cls(ca, ca_path, context, cert_path, key_path)
