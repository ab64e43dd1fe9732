"""The tenant's users: who may log in, with which password or registered certificate.

One integration user, whose login and password come from ``sandbox.common.credentials`` (the
same values Key Vault is preloaded with). Anaplan ties a CA certificate to a user when a tenant
administrator registers it; here the certificate the sandbox CA issued for the integration user
(``SandboxTls.anaplan_cert_path``) is that registration, identified by its SHA-256 fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sandbox.anaplan.ids import customer_guid, user_guid
from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials


@dataclass(frozen=True)
class AnaplanUser:
    login: str
    password: str
    guid: str
    customer_guid: str
    certificate_fingerprint: bytes


def integration_user(ctx: SandboxContext) -> AnaplanUser:
    creds = credentials(ctx.seed)
    cert = x509.load_pem_x509_certificate(ctx.tls.anaplan_cert_path.read_bytes())
    return AnaplanUser(
        login=creds.anaplan_user,
        password=creds.anaplan_password,
        guid=user_guid(ctx.seed, creds.anaplan_user),
        customer_guid=customer_guid(ctx.seed),
        certificate_fingerprint=cert.fingerprint(hashes.SHA256()),
    )
