"""Injected faults on the BC, Entra and Key Vault services: targeted by BC route template, shaped
like each service's own errors, with Retry-After where the service sends one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sandbox.test_bc_kit import BcKit, bc, bc_error

__all__ = ["bc"]

ROOT = "/v2.0/{tenant}/{environment}/api/v2.0"


@pytest.fixture
def faults(bc: BcKit) -> Iterator[Any]:
    def add(service: str, **rule: Any) -> None:
        response = bc.http.post(
            f"{bc.info[service]}/_sandbox/faults", json={"rules": [{"service": service, **rule}]}
        )
        assert response.status_code == 200, response.text

    try:
        yield add
    finally:
        for service in ("bc", "entra", "keyvault"):
            bc.http.post(f"{bc.info[service]}/_sandbox/faults", json={"clear": True})


def test_targeted_429_on_a_bc_route_template(bc: BcKit, faults: Any) -> None:
    faults(
        "bc",
        kind="429",
        count=1,
        method="GET",
        route=f"{ROOT}/companies({{id}})/generalLedgerEntries",
    )
    assert bc.get("/accounts").status_code == 200  # another route is not affected
    throttled = bc.get("/generalLedgerEntries", **{"$top": "1"})
    bc_error(throttled, 429, "Application_TooManyRequests")
    assert throttled.headers["Retry-After"] == "1"  # --fast
    assert bc.get("/generalLedgerEntries", **{"$top": "1"}).status_code == 200


def test_injected_5xx_and_reset(bc: BcKit, faults: Any) -> None:
    faults("bc", kind="503", count=1)
    bc_error(bc.get("/journals"), 503, "Internal_ServiceUnavailable")
    faults("bc", kind="reset", count=1)
    with pytest.raises(httpx.HTTPError):
        bc.get("/journals")
    assert bc.get("/journals").status_code == 200


def test_entra_and_vault_faults_use_their_own_error_shapes(bc: BcKit, faults: Any) -> None:
    faults("entra", kind="503", count=1)
    response = bc.http.post(
        f"{bc.info['entra']}/{bc.tenant}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    faults("keyvault", kind="429", count=1)
    response = bc.http.get(f"{bc.info['keyvault']}/secrets", params={"api-version": "7.5"})
    assert response.status_code == 429 and response.json()["error"]["code"] == "Throttled"
    assert "Retry-After" in response.headers
