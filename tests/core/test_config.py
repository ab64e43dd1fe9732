"""Configuration: every setting validated once, errors that name the setting, on one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("[pipeline.writeback]", "[pipeline.writeback]\nlines_per_activty = 100", "writeback"),
        ('name = "fpa"', 'name = "fpa"\nanaplan_modle_id = "x"', "pipeline[0]"),
        (
            'import = "Import GL Actuals"',
            'import = "Import GL Actuals"\nperiod_colum = "Time"',
            "actuals",
        ),
    ],
)
def test_a_misspelt_key_is_refused_not_defaulted(
    tmp_path: Path, env: dict[str, str], old: str, new: str, fragment: str
) -> None:
    """A typo would otherwise leave the default in force without a word."""
    assert old in PIPELINE
    write_pipeline(tmp_path, env, PIPELINE.replace(old, new, 1))
    message = error_of(env)
    wrong = new.split("\n")[-1].split(" =")[0]
    assert f"{fragment}.{wrong}: unknown key" in message and "known keys here" in message


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


def test_every_problem_is_named_in_one_line(env: dict[str, str]) -> None:
    del env["BC_TENANT_ID"]
    env["BC_API_BASE_URL"] = "http://api.example"
    env["HTTP_MAX_ATTEMPTS"] = "many"
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("3 configuration problems: ")
    assert len(caught.value.problems) == 3
    for fragment in (
        "setting BC_TENANT_ID is missing",
        "setting BC_API_BASE_URL must be an https:// URL",
        "setting HTTP_MAX_ATTEMPTS must be a whole number",
    ):
        assert fragment in message


@pytest.mark.parametrize("spec", [s for s in SETTINGS if s.binding], ids=lambda s: s.name)
def test_a_missing_timer_schedule_is_named_not_defaulted(env: dict[str, str], spec: Any) -> None:
    """The Functions host resolves %X_SCHEDULE% itself and has no default: neither does this."""
    del env[spec.name]
    message = error_of(env)
    assert message.startswith(f"setting {spec.name} is missing") and spec.default in message
    env[spec.name] = "every night"
    assert "six-field NCRONTAB" in error_of(env)


def test_key_vault_service_principal_settings(env: dict[str, str]) -> None:
    assert load_settings(env).secrets.azure_client_secret is None  # the managed identity
    env.update(
        AZURE_TENANT_ID="contoso.onmicrosoft.com",
        AZURE_CLIENT_ID="41111111-2222-4333-8444-555555555555",
        AZURE_CLIENT_SECRET="sp-secret-value-123",
        AZURE_AUTHORITY_HOST="https://login.example/",
    )
    settings = load_settings(env)
    assert settings.secrets.azure_tenant_id == "contoso.onmicrosoft.com"
    assert settings.secrets.azure_authority_host == "https://login.example"
    assert settings.secrets.azure_client_secret == "sp-secret-value-123"
    assert "sp-secret-value-123" not in repr(settings)
    env["AZURE_CLIENT_ID"] = "my-app"
    assert error_of(env).startswith("setting AZURE_CLIENT_ID must be a GUID")


def test_a_secret_setting_cannot_be_referenced_from_the_pipeline_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env["AZURE_CLIENT_SECRET"] = "sp-secret-value-123"
    write_pipeline(tmp_path, env, PIPELINE.replace("${BC_COMPANY_ID}", "${AZURE_CLIENT_SECRET}"))
    message = error_of(env)
    assert "not a declared app setting" in message and "sp-secret-value-123" not in message


def test_importing_the_app_validates_once_and_logs_every_problem(env: dict[str, str]) -> None:
    """In Azure nothing calls startup_check: the import itself must say what is wrong, once,
    and still index every function (an import error would leave the host with none)."""
    for name in ("BC_TENANT_ID", "ANAPLAN_USER", "POLL_SCHEDULE"):
        del env[name]
    script = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(levelname)s %(name)s %(message)s')\n"
        "import function_app\n"
        "print('functions', len(function_app.app.get_functions()))\n"
        "print('problems', len(function_app.CONFIG_ERROR.problems))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_"))}
    clean = {k: v for k, v in clean.items() if not k.endswith("_SCHEDULE")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ERROR")]
    assert len(errors) == 1 and errors[0].startswith("ERROR function_app configuration error")
    for name in ("BC_TENANT_ID", "ANAPLAN_USER", "POLL_SCHEDULE"):
        assert f"setting {name}" in errors[0]
    assert "problems 3" in lines and int(lines[-2].split()[1]) > 30


def test_local_host_start_with_missing_settings_prints_one_line(env: dict[str, str]) -> None:
    """The import-time ERROR and the start-up check's message are the same: printed once."""
    del env["BC_CLIENT_ID"]
    del env["REFERENCE_SYNC_SCHEDULE"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_"))}
    clean = {k: v for k, v in clean.items() if not k.endswith("_SCHEDULE")}
    result = subprocess.run(
        [sys.executable, "-m", "local_host", "start", "--port", "0"],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("2 configuration problems: ")
    assert "BC_CLIENT_ID is missing" in lines[0] and "REFERENCE_SYNC_SCHEDULE" in lines[0]


def _uncommented(text: str) -> str:
    """connector.toml with every commented-out ``# key = value`` line switched on."""
    return re.sub(r"(?m)^# (\w+ = )", r"\1", text)


def _keys(data: Any) -> set[str]:
    keys = set()
    items = data.items() if isinstance(data, dict) else []
    for key, value in items:
        keys.add(key)
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, dict):
                keys |= _keys(child)
    return keys


def test_connector_toml_documents_every_key_the_connector_reads() -> None:
    """A key pipeline.py reads but connector.toml does not show is undiscoverable."""
    source = (REPO_ROOT / "bc_anaplan" / "pipeline.py").read_text()
    read = set(
        re.findall(
            r"\.(?:text|optional_text|boolean|integer|strings|choice|table|tables|get)\(\s*"
            r"\"(\w+)\"",
            source,
        )
    )
    read |= set(re.findall(r"_period_key\(\w+, \"(\w+)\"\)", source))
    assert {"lines_per_activity", "blank_member", "import"} <= read  # the scan sees them
    documented = _keys(tomllib.loads(_uncommented(PIPELINE)))
    assert read - documented == set()


def test_commented_keys_show_the_defaults(tmp_path: Path, env: dict[str, str]) -> None:
    """Switching every commented default on changes nothing but the two "e.g." examples."""
    uncommented = _uncommented(PIPELINE)
    assert uncommented != PIPELINE
    default = load_settings(env).pipeline()
    write_pipeline(tmp_path, env, uncommented)
    shown = load_settings(env).pipeline()
    assert shown.dimension("DEPARTMENT").blank_member == "No Department"
    assert shown.employees is not None and shown.employees.headcount_first_period == "2024-01"
    examples_off = replace(
        shown,
        dimensions=tuple(replace(d, blank_member=None) for d in shown.dimensions),
        employees=replace(shown.employees, headcount_first_period=None),
    )
    assert examples_off == default
