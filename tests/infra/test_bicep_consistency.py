"""infra/*.bicep agrees with the code: every app setting the code reads, nothing stale, no secrets.

The Bicep cannot be compiled here (no Bicep CLI offline), so these tests read its text with
``tests.infra.bicep_text`` and check what can be checked without Azure:

- the app settings main.bicep defines are exactly ``bc_anaplan.config.SETTING_NAMES`` (read at test
  time, so a setting added to config.py fails this test until main.bicep has it) and the settings
  the Functions host reads for the app (``%X%`` in host.json and in the bindings of the indexed
  functions, e.g. timer schedules), plus the commented allow-list of platform settings below;
- values that restate a code default restate it correctly, required settings are parameters the
  operator must give;
- ``%X%`` in host.json and in every function's bindings (the timer schedules), and ``${X}`` in
  connector.toml, name settings that main.bicep defines;
- the Key Vault secret names are exactly those of ``bc_anaplan.secrets.SECRETS``;
- the security baseline (HTTPS only, TLS 1.2, no basic-auth publishing, no shared keys, RBAC vault,
  least-privilege roles) is written down, and no secret-looking value appears under infra/.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tomllib
import warnings
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from bc_anaplan import config
from bc_anaplan.secrets import SECRETS
from tests.infra import bicep_text as bicep
from tests.support.processes import REPO_ROOT

INFRA = REPO_ROOT / "infra"
MAIN = INFRA / "main.bicep"

# Platform settings main.bicep may define besides the code's own, and why each is there.
PLATFORM_SETTINGS = {
    # every plan: where the Functions host (and so the connector's logs) sends telemetry
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "platformSettings",
    # Elastic Premium only; Flex Consumption takes the runtime from functionAppConfig
    "FUNCTIONS_EXTENSION_VERSION": "premiumSettings",
    "FUNCTIONS_WORKER_RUNTIME": "premiumSettings",
    # Elastic Premium only: run from the package blob, read with the app identity, instead of an
    # Azure Files content share (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING needs the account key)
    "WEBSITE_RUN_FROM_PACKAGE": "premiumSettings",
    # Elastic Premium only, optional: time zone of the NCRONTAB schedules (unsupported on Flex)
    "WEBSITE_TIME_ZONE": "timeZoneSettings",
}
# Settings whose names are computed (a Bicep toObject over a parameter), by variable.
DYNAMIC_SETTINGS = {
    # AzureWebJobs.<timer function>.Disabled = true, from the disabledFunctions parameter
    "disabledFunctionSettings": "AzureWebJobs.${fn}.Disabled",
}
# Settings the code can read that main.bicep leaves unset on purpose, and why.
NOT_SET_ON_PURPOSE = {
    "AzureWebJobsStorage": "a connection string carries the account key; the identity-based "
    "AzureWebJobsStorage__accountName replaces it",
    # a service principal for Key Vault where no managed identity exists (a laptop, the sandbox);
    # in Azure the system-assigned identity reads the vault, and a client secret in app settings
    # is what Key Vault is there to avoid
    **dict.fromkeys(
        ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST"),
        "service principal for Key Vault outside Azure; the managed identity replaces it",
    ),
}
# Settings whose Bicep value deliberately differs from the code default (none today).
VALUE_OVERRIDES: dict[str, str] = {}
# The variable that holds the code's settings (only code settings may be in it).
CONNECTOR_VAR = "connectorSettings"

ROLE_NAMES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "76199698-9eea-4c19-bc75-cec21354c6b6": "Storage Table Data Reader",
}
APP_ROLES = {
    "Storage Blob Data Owner",
    "Storage Queue Data Contributor",
    "Storage Table Data Contributor",
    "Key Vault Secrets User",
}


# ---------------------------------------------------------------------------------------------
# Reading infra/
# ---------------------------------------------------------------------------------------------


@cache
def decls(path: Path = MAIN) -> tuple[bicep.Declaration, ...]:
    return tuple(bicep.declarations(path.read_text()))


def kind(name: str, path: Path = MAIN) -> dict[str, bicep.Declaration]:
    return bicep.by_name(list(decls(path)), name)


def app_settings_resource() -> bicep.Declaration:
    found = [
        (path, d)
        for path in INFRA.rglob("*.bicep")
        for d in decls(path)
        if d.kind == "resource" and d.resource_type == "Microsoft.Web/sites/config"
    ]
    assert len(found) == 1, "exactly one Microsoft.Web/sites/config resource holds app settings"
    path, resource = found[0]
    assert path == MAIN
    members = {m.key: m.value for m in bicep.object_members(resource.value)}
    assert bicep.string_literal(members["name"]) == "appsettings"
    return resource


def settings_by_var() -> dict[str, dict[str, str]]:
    """{variable: {setting: value text}} for every variable the appsettings resource unions."""
    resource = app_settings_resource()
    members = {m.key: m.value for m in bicep.object_members(resource.value)}
    properties = members["properties"]
    variables = kind("var")
    params = kind("param")
    result: dict[str, dict[str, str]] = {}
    inline = bicep.object_members(properties)
    assert inline == [], "settings belong in a *Settings variable, not inline in the resource"
    for name in sorted(bicep.identifiers(properties)):
        if name in variables and name.endswith("Settings"):
            text = variables[name].value
            result[name] = {m.key: m.value for m in bicep.object_members(text)}
        else:
            # only conditions may appear besides the *Settings variables
            assert name in variables or name in params, f"unknown {name} in the app settings"
            assert not name.endswith("Settings"), name
    return result


def defined_settings() -> set[str]:
    return {key for values in settings_by_var().values() for key in values}


@cache
def indexed_functions() -> tuple[tuple[str, str, str], ...]:
    """(name, trigger type, bindings JSON) of every function, as the Python worker indexes them."""
    script = (
        "import json, function_app\n"
        "for f in function_app.app.get_functions():\n"
        "    print(json.dumps([f.get_function_name(), f.get_trigger().type,"
        " f.get_function_json()]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_"))},
    )
    assert result.returncode == 0, result.stderr
    return tuple(tuple(json.loads(line)) for line in result.stdout.splitlines())


# ---------------------------------------------------------------------------------------------
# The check itself (also exercised on made-up input below, so it cannot pass vacuously)
# ---------------------------------------------------------------------------------------------


def settings_problems(defined: set[str], code: set[str]) -> list[str]:
    """What is wrong between the settings Bicep defines and the settings the code reads."""
    problems = []
    for name in sorted(code - defined - set(NOT_SET_ON_PURPOSE)):
        problems.append(f"{name}: the code reads it, main.bicep does not set it")
    for name in sorted(defined - code - set(PLATFORM_SETTINGS)):
        problems.append(
            f"{name}: set in main.bicep, but neither read by the code nor a platform setting"
        )
    for name in sorted(set(NOT_SET_ON_PURPOSE) - code):
        problems.append(f"{name}: listed as not set on purpose, but the code no longer reads it")
    for name in sorted(set(NOT_SET_ON_PURPOSE) & defined):
        problems.append(f"{name}: listed as not set on purpose, but main.bicep sets it")
    for name in sorted(set(PLATFORM_SETTINGS) & code):
        problems.append(f"{name}: the code reads it, so it is not a platform setting")
    return problems


@cache
def binding_settings() -> frozenset[str]:
    """Settings the Functions host reads for the app: ``%X%`` in host.json and in bindings."""
    refs = set(re.findall(r"%([A-Za-z0-9_.]+)%", (REPO_ROOT / "host.json").read_text()))
    for _, _, bindings in indexed_functions():
        refs.update(re.findall(r"%([A-Za-z0-9_.]+)%", bindings))
    return frozenset(refs)


def code_settings() -> set[str]:
    """Every setting the app reads: config.SETTINGS, and what its bindings and host.json name."""
    return set(config.SETTING_NAMES) | binding_settings()


def test_app_settings_are_exactly_the_code_settings_plus_platform_settings() -> None:
    assert settings_problems(defined_settings(), code_settings()) == []


def test_binding_settings_are_declared_in_config() -> None:
    """config.SETTINGS should list what the host reads too (validation, README); warn only."""
    undeclared = sorted(binding_settings() - config.SETTING_NAMES)
    if undeclared:
        warnings.warn(
            f"read through %X% bindings but not declared in bc_anaplan.config.SETTINGS: "
            f"{', '.join(undeclared)}",
            stacklevel=1,
        )


def test_the_check_notices_a_new_code_setting_and_a_stale_one() -> None:
    defined = defined_settings()
    code = code_settings()
    assert settings_problems(defined, code | {"NEW_SETTING"}) == [
        "NEW_SETTING: the code reads it, main.bicep does not set it"
    ]
    assert settings_problems(defined | {"OLD_SETTING"}, code) == [
        "OLD_SETTING: set in main.bicep, but neither read by the code nor a platform setting"
    ]


def test_each_setting_sits_in_its_variable() -> None:
    by_var = settings_by_var()
    assert set(by_var[CONNECTOR_VAR]) <= code_settings()
    for name, var in PLATFORM_SETTINGS.items():
        assert name in by_var.get(var, {}), f"{name} belongs in var {var}"
    counts = Counter(key for values in by_var.values() for key in values)
    assert [k for k, n in counts.items() if n > 1] == [], "a setting is defined twice"
    # the only variable without literal keys is the declared dynamic one
    for var, pattern in DYNAMIC_SETTINGS.items():
        assert by_var[var] == {}
        text = kind("var")[var].value
        assert text.startswith("toObject(") and pattern in text
    assert {v for v, keys in by_var.items() if not keys} == set(DYNAMIC_SETTINGS)


def test_no_secret_reaches_an_app_setting() -> None:
    """Secrets stay in Key Vault: the code reads them itself from KEY_VAULT_URL."""
    values = {k: v for keys in settings_by_var().values() for k, v in keys.items()}
    secret_envs = {s.env_name for s in SECRETS} | {s.env_name + "_FILE" for s in SECRETS}
    assert secret_envs & set(values) == set()
    assert "vaultUri" in values["KEY_VAULT_URL"]
    assert all("@Microsoft.KeyVault(" not in v for v in values.values())
    assert "storage" in values["AzureWebJobsStorage__accountName"]


def code_default(name: str) -> str:
    spec = next(s for s in config.SETTINGS if s.name == name)
    return spec.default or ""


def test_values_restate_the_code_defaults() -> None:
    params = kind("param")
    for name, value in settings_by_var()[CONNECTOR_VAR].items():
        if name in VALUE_OVERRIDES or name not in config.SETTING_NAMES:
            continue
        literal = bicep.string_literal(value)
        if literal is None and value in params:
            literal = bicep.string_literal(params[value].value)
        number = re.fullmatch(r"string\((\w+)\)", value)
        if number and number.group(1) in params:  # an int parameter, e.g. RETENTION_DAYS
            default = params[number.group(1)].value
            literal = default if re.fullmatch(r"\d+", default) else None
        if literal is not None:
            assert literal == code_default(name), f"{name}: {literal!r} in Bicep"


def test_required_settings_are_parameters_without_default() -> None:
    params = kind("param")
    connector = settings_by_var()[CONNECTOR_VAR]
    for spec in config.SETTINGS:
        if spec.required:
            value = connector[spec.name]
            assert value in params, f"{spec.name} must come from a parameter"
            assert params[value].value == "", f"{spec.name}: the operator must give it"


def test_host_json_resolves_to_defined_settings() -> None:
    refs = set(re.findall(r"%([A-Za-z0-9_.]+)%", (REPO_ROOT / "host.json").read_text()))
    assert "TASK_HUB_NAME" in refs
    assert refs - defined_settings() == set()


def test_every_binding_expression_resolves_to_a_defined_setting() -> None:
    refs: dict[str, str] = {}
    timers = []
    for name, trigger, bindings in indexed_functions():
        for ref in re.findall(r"%([A-Za-z0-9_.]+)%", bindings):
            refs[ref] = name
        if trigger == "timerTrigger":
            timers.append(name)
            assert re.search(r'"schedule": "%[A-Za-z0-9_]+%"', bindings), (
                f"{name}: schedules come from app settings, so operators can change them"
            )
    assert timers, "the app has timers; indexing found none"
    missing = {ref: fn for ref, fn in refs.items() if ref not in defined_settings()}
    assert missing == {}


def test_switchable_timers_are_real_timer_functions() -> None:
    allowed = next(
        d for d in kind("param")["disabledFunctions"].decorators if d.startswith("@allowed(")
    )
    names = set(bicep.string_items(allowed[len("@allowed(") : -1]))
    timers = {name for name, trigger, _ in indexed_functions() if trigger == "timerTrigger"}
    assert names and names <= timers


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_connector_toml_references_defined_settings() -> None:
    data = tomllib.loads((REPO_ROOT / "connector.toml").read_text())
    refs = {ref for s in _strings(data) for ref in re.findall(r"\$\{([A-Za-z0-9_]+)\}", s)}
    assert refs, "connector.toml takes ids from settings"
    assert refs - defined_settings() == set()


def test_key_vault_secret_names_are_the_codes() -> None:
    vault = INFRA / "modules" / "keyvault.bicep"
    names = bicep.string_items(kind("var", vault)["secretNames"].value)
    assert sorted(names) == sorted(s.vault_name for s in SECRETS)
    assert len(names) == len(set(names))
    secret_resources = [
        d
        for path in INFRA.rglob("*.bicep")
        for d in decls(path)
        if d.kind == "resource" and d.resource_type == "Microsoft.KeyVault/vaults/secrets"
    ]
    assert len(secret_resources) == 1
    assert re.search(
        r"\[for \w+ in \(createSecretPlaceholders \? secretNames", secret_resources[0].text
    )
    assert "enabled: false" in secret_resources[0].text


# ---------------------------------------------------------------------------------------------
# Security baseline, as written
# ---------------------------------------------------------------------------------------------


def test_security_baseline_is_written_down() -> None:
    resources = kind("resource")
    site = resources["site"].text
    assert "httpsOnly: true" in site
    assert site.count("minTlsVersion: '1.2'") == 2, "TLS 1.2 on both plans"
    assert "ftpsState: 'Disabled'" in site
    assert "type: 'SystemAssigned'" in site
    assert "appSettings" not in site, "app settings live in the appsettings resource only"
    for policy in ("ftpBasicAuth", "scmBasicAuth"):
        assert "allow: false" in resources[policy].text
    storage = (INFRA / "modules" / "storage.bicep").read_text()
    for line in (
        "allowSharedKeyAccess: false",
        "allowBlobPublicAccess: false",
        "minimumTlsVersion: 'TLS1_2'",
        "supportsHttpsTrafficOnly: true",
    ):
        assert line in storage
    vault = (INFRA / "modules" / "keyvault.bicep").read_text()
    assert "enableRbacAuthorization: true" in vault and "accessPolicies" not in vault


def test_roles_are_known_and_the_app_gets_only_its_four() -> None:
    roles_file = INFRA / "modules" / "roles.bicep"
    for path in INFRA.rglob("*.bicep"):
        if path != roles_file:
            assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", path.read_text()), path
    variables = kind("var", roles_file)
    role_vars = {
        name: bicep.string_literal(d.value)
        for name, d in variables.items()
        if bicep.string_literal(d.value)
    }
    assert set(role_vars.values()) <= set(ROLE_NAMES), "an unknown role id"
    app_role_vars = bicep.identifiers(variables["appStorageRoles"].value)
    resources = kind("resource", roles_file)
    app_resources = [d for d in resources.values() if "principalId: appPrincipalId" in d.text]
    assert {d.name for d in app_resources} == {"appStorage", "appSecrets"}
    app_role_vars |= bicep.identifiers(resources["appSecrets"].text) & set(role_vars)
    assert {ROLE_NAMES[role_vars[v]] for v in app_role_vars} == APP_ROLES


def test_parameters_example_fits_main_bicep() -> None:
    example = json.loads((INFRA / "main.parameters.example.json").read_text())
    given = set(example["parameters"])
    params = kind("param")
    assert given - set(params) == set(), "the example names a parameter main.bicep lacks"
    required = {name for name, d in params.items() if d.value == ""}
    assert required - given == set(), "the example must give every parameter without default"


# ---------------------------------------------------------------------------------------------
# No secret values under infra/
# ---------------------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "storage account key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}"),
    "shared access signature": re.compile(r"[?&;]sig=[A-Za-z0-9%+/=]{16,}", re.I),
    "PEM block": re.compile(r"-----BEGIN [A-Z0-9 ]*-----"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    "instrumentation key": re.compile(r"InstrumentationKey=[0-9a-fA-F-]{30,}"),
    "password or secret given as a literal": re.compile(
        r"(?i)\b\w*(password|clientsecret|client_secret|apikey|privatekey|private_key)\w*"
        r"['\"]?\s*[:=]\s*(\{\s*\"value\"\s*:\s*)?['\"][^'\"\s]{4,}['\"]"
    ),
}


# In Bicep only (the README may name them): ways a secret would flow through the deployment.
BICEP_BANS = {
    "key listed into a setting": re.compile(r"\blist(Keys|Secrets|ConnectionStrings)\s*\(", re.I),
    "secure parameter (secrets never pass through the deployment)": re.compile(r"@secure\(\)"),
}


def _entropy(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def secret_findings(text: str, bicep_file: bool = True) -> list[str]:
    patterns = SECRET_PATTERNS | (BICEP_BANS if bicep_file else {})
    found = [label for label, pattern in patterns.items() if pattern.search(text)]
    for token in re.findall(r"[A-Za-z0-9+=_]{32,}", text):
        mixed = all(re.search(p, token) for p in ("[a-z]", "[A-Z]", "[0-9]"))
        if mixed and _entropy(token) > 4.2:
            found.append(f"high-entropy token {token[:6]}...")
    return found


def infra_files() -> list[Path]:
    skipped = {"dist", "__pycache__"}
    return [
        p
        for p in sorted(INFRA.rglob("*"))
        if p.is_file() and not skipped & set(p.relative_to(INFRA).parts)
    ]


@pytest.mark.parametrize("path", infra_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_no_secret_values_under_infra(path: Path) -> None:
    assert secret_findings(path.read_text(errors="replace"), path.suffix == ".bicep") == []


@pytest.mark.parametrize(
    "sample",
    [
        "AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=st;AccountKey="
        + "Zm9v" * 12
        + "'",
        "WEBSITE_RUN_FROM_PACKAGE: 'https://st.blob.core.windows.net/p/a.zip?sv=2022&sig="
        + "AbC1" * 8
        + "'",
        "-----BEGIN" + " PRIVATE KEY-----",
        '"anaplanPassword": { "value": "hunter22" }',
        "clientSecret: 'Xy7_verysecret'",
        "token " + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7s",
        "value: listKeys(storage.id, '2023-01-01').keys[0].value",
        "@secure()\nparam anaplanPassword string",
    ],
)
def test_the_secret_scan_notices_secrets(sample: str) -> None:
    assert secret_findings(sample) != []
