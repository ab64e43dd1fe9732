"""Configuration: every setting validated once, errors that name the setting, on one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bc_anaplan.config import SETTINGS, ConfigError, load_settings
from tests.support.processes import REPO_ROOT

PIPELINE = (REPO_ROOT / "connector.toml").read_text()


def error_of(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_valid_environment_loads_with_public_defaults(env: dict[str, str]) -> None:
    settings = load_settings(env)
    assert settings.bc.api_base_url == "https://api.businesscentral.dynamics.com"
    assert settings.bc.authority_host == "https://login.microsoftonline.com"
    assert settings.anaplan.auth_url == "https://auth.anaplan.com"
    assert settings.anaplan.api_url == "https://api.anaplan.com"
    assert settings.anaplan.auth_mode == "basic"
    assert settings.bc.rate_limit_per_minute == 600
    assert settings.storage.task_hub == "bcanaplan"
    assert settings.secrets.key_vault_url is None
    pipeline = settings.pipeline()
    assert pipeline.name == "fpa" and settings.pipeline("fpa") is pipeline


def test_ids_are_normalised_to_the_case_anaplan_requires(env: dict[str, str]) -> None:
    pipeline = load_settings(env).pipeline()
    assert pipeline.anaplan_workspace_id == "8a8194824045c4240140750bf15a5574"
    assert pipeline.anaplan_model_id == "F1111111C11111111B11111F1111E11F"


@pytest.mark.parametrize("name", ["BC_TENANT_ID", "BC_ENVIRONMENT", "BC_CLIENT_ID"])
def test_missing_required_setting_is_named(env: dict[str, str], name: str) -> None:
    del env[name]
    message = error_of(env)
    assert message.startswith(f"setting {name} is missing")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BC_TENANT_ID", "contoso", "must be a GUID"),
        ("BC_API_BASE_URL", "http://api.example", "must be an https:// URL"),
        ("BC_RATE_LIMIT_PER_MINUTE", "lots", "must be a whole number"),
        ("BC_RATE_LIMIT_PER_MINUTE", "0", "between 1 and 100000"),
        ("ANAPLAN_AUTH_MODE", "oauth", "must be one of basic, certificate"),
        ("HTTP_READ_TIMEOUT_SECONDS", "-3", "between 1 and 3600"),
        ("CONNECTOR_CA_BUNDLE", "/nonexistent/ca.pem", "does not exist"),
        ("TASK_HUB_NAME", "my-hub", "3-45 letters and digits"),
        ("AzureWebJobsStorage", "not a connection string", "connection string"),
        ("LOG_LEVEL", "chatty", "must be one of"),
    ],
)
def test_invalid_setting_is_named(
    env: dict[str, str], name: str, value: str, fragment: str
) -> None:
    env[name] = value
    message = error_of(env)
    assert f"setting {name}" in message and fragment in message


def test_basic_auth_needs_a_user(env: dict[str, str]) -> None:
    del env["ANAPLAN_USER"]
    assert error_of(env).startswith("setting ANAPLAN_USER is missing")
    env["ANAPLAN_AUTH_MODE"] = "certificate"
    assert load_settings(env).anaplan.user is None


def test_storage_may_be_identity_based(env: dict[str, str]) -> None:
    del env["AzureWebJobsStorage"]
    assert "AzureWebJobsStorage is missing" in error_of(env)
    env["AzureWebJobsStorage__accountName"] = "stconnector"
    assert load_settings(env).storage.account_name == "stconnector"


def write_pipeline(tmp_path: Path, env: dict[str, str], text: str) -> None:
    path = tmp_path / "connector.toml"
    path.write_text(text)
    env["CONNECTOR_CONFIG_PATH"] = str(path)


def test_pipeline_variable_that_is_not_set_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    del env["BC_COMPANY_ID"]
    message = error_of(env)
    assert "pipeline[0].bc_company_id" in message and "BC_COMPANY_ID is not set" in message


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (
            'anaplan_model_id = "${ANAPLAN_MODEL_ID}"',
            'anaplan_model_id = "F111"',
            "pipeline[0].anaplan_model_id: expected 32 hex digits",
        ),
        (
            'import = "Import GL Actuals"',
            "import = 7",
            "pipeline[0].actuals.import: expected a non-empty string",
        ),
        (
            'dimensions = ["COSTCENTER", "DEPARTMENT"]',
            'dimensions = ["REGION"]',
            "REGION is not mapped",
        ),
        ('policy = "all-or-nothing"', 'policy = "yolo"', "expected one of all-or-nothing"),
        ('anaplan_format = "MMM YY"', 'anaplan_format = "Month"', "needs exactly one month token"),
        (
            'balance_sheet_categories = ["Assets", "Liabilities", "Equity"]',
            'balance_sheet_categories = ["Assets", "Stuff"]',
            "unknown BC account categories",
        ),
        (
            "fiscal_year_start_month = 1",
            "fiscal_year_start_month = 13",
            "expected a whole number from 1 to 12",
        ),
        ('name = "fpa"', 'name = "FP&A"', "pipeline[0].name"),
        ("${BC_COMPANY_ID}", "${HOME}", "not a declared app setting"),
    ],
)
def test_pipeline_file_errors_point_at_the_key(
    tmp_path: Path, env: dict[str, str], old: str, new: str, fragment: str
) -> None:
    assert old in PIPELINE
    write_pipeline(tmp_path, env, PIPELINE.replace(old, new, 1))
    message = error_of(env)
    assert message.startswith("connector.toml") and fragment in message


def test_pipeline_file_must_exist_and_parse(tmp_path: Path, env: dict[str, str]) -> None:
    env["CONNECTOR_CONFIG_PATH"] = str(tmp_path / "missing.toml")
    assert "does not exist" in error_of(env)
    write_pipeline(tmp_path, env, "[[pipeline]\n")
    assert "not valid TOML" in error_of(env)
    write_pipeline(tmp_path, env, "")
    assert "no [[pipeline]] defined" in error_of(env)


def test_pipeline_names_are_unique(tmp_path: Path, env: dict[str, str]) -> None:
    write_pipeline(tmp_path, env, PIPELINE + "\n" + PIPELINE)
    assert "pipeline names must be unique" in error_of(env)


def test_unknown_pipeline_is_reported_with_the_known_ones(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="known: fpa"):
        load_settings(env).pipeline("sales")


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert missing == []


def test_startup_with_a_missing_setting_prints_one_line_and_fails(env: dict[str, str]) -> None:
    del env["BC_CLIENT_ID"]
    clean = {k: v for k, v in os.environ.items() if k not in env and not k.startswith("BC_")}
    result = subprocess.run(
        [sys.executable, "-m", "bc_anaplan", "check"],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "BC_CLIENT_ID is missing" in lines[0]
    ok = subprocess.run(
        [sys.executable, "-m", "bc_anaplan", "check"],
        cwd=REPO_ROOT,
        env={**clean, **env, "BC_CLIENT_ID": "21111111-2222-4333-8444-555555555555"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr


def test_deleted_flag_property_may_be_switched_off(tmp_path: Path, env: dict[str, str]) -> None:
    assert load_settings(env).pipeline().deleted_flag_property == "Deleted in BC"
    text = PIPELINE.replace('deleted_flag_property = "Deleted in BC"', 'deleted_flag_property = ""')
    write_pipeline(tmp_path, env, text)
    assert load_settings(env).pipeline().deleted_flag_property is None
