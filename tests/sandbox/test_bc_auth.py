"""BC accepts only a valid, unexpired Entra token issued for its own audience and tenant."""

from __future__ import annotations

from tests.sandbox.test_bc_kit import VAULT_SCOPE, BcKit, bc, bc_error, bc_private

__all__ = ["bc", "bc_private"]


def _without_token(kit: BcKit, authorization: str | None) -> int:
    headers = {"Authorization": authorization} if authorization else {}
    response = kit.http.get(kit.url("/accounts"), headers=headers)
    message = bc_error(response, 401, "Authentication_InvalidCredentials")
    assert message == "The server has rejected the client credentials."
    return response.status_code


def test_missing_or_unknown_token_is_rejected(bc: BcKit) -> None:
    _without_token(bc, None)
    _without_token(bc, "Bearer eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2lnbmF0dXJl")
    _without_token(bc, "Basic dXNlcjpwYXNz")


def test_a_vault_token_is_rejected(bc: BcKit) -> None:
    _without_token(bc, f"Bearer {bc.token(VAULT_SCOPE)}")


def test_another_tenant_in_the_url_is_rejected(bc: BcKit) -> None:
    url = bc.url("/accounts").replace(bc.tenant, "11111111-2222-3333-4444-555555555555")
    response = bc.http.get(url, headers=bc.headers())
    bc_error(response, 401, "Authentication_InvalidCredentials")


def test_unknown_environment_is_the_xml_404(bc: BcKit) -> None:
    url = bc.url("/accounts").replace("/Production/", "/Sandbox/")
    response = bc.http.get(url, headers=bc.headers())
    assert response.status_code == 404
    assert "<code>NoEnvironment</code>" in response.text
    assert "Environment does not exist." in response.text


def test_the_tenant_segment_is_optional(bc: BcKit) -> None:
    url = bc.url("/journals").replace(f"/{bc.tenant}/", "/")
    response = bc.http.get(url, headers=bc.headers())
    assert response.status_code == 200, response.text
    assert {j["code"] for j in response.json()["value"]} >= {"DEFAULT", "PLAN"}


def test_unknown_segment(bc: BcKit) -> None:
    message = bc_error(bc.get("/custmers"), 404, "BadRequest_ResourceNotFound")
    assert message == "Resource not found for the segment 'custmers'."


def test_tokens_expire_on_the_simulated_clock(bc_private: BcKit) -> None:
    assert bc_private.get("/journals").status_code == 200
    bc_private.advance_clock(3600)
    bc_error(bc_private.get("/journals"), 401, "Authentication_InvalidCredentials")
    bc_private.token(fresh=True)
    assert bc_private.get("/journals").status_code == 200
