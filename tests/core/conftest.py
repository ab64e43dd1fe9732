"""Fixtures for core tests: a complete, valid environment to vary one setting at a time."""

from __future__ import annotations

import pytest

from bc_anaplan.config import SCHEDULE_SETTINGS

VALID_ENV = {
    "BC_TENANT_ID": "11111111-2222-4333-8444-555555555555",
    "BC_ENVIRONMENT": "Production",
    "BC_CLIENT_ID": "21111111-2222-4333-8444-555555555555",
    "BC_COMPANY_ID": "31111111-2222-4333-8444-555555555555",
    "ANAPLAN_USER": "integration.user@example.com",
    "ANAPLAN_WORKSPACE_ID": "8A8194824045C4240140750BF15A5574",
    "ANAPLAN_MODEL_ID": "f1111111c11111111b11111f1111e11f",
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
    # timer schedules must be set (the Functions host has no default for them); standard values
    **{s.name: s.default for s in SCHEDULE_SETTINGS if s.default},
}


@pytest.fixture
def env() -> dict[str, str]:
    return dict(VALID_ENV)
