"""local.settings.example.json stays true: it names only real settings and secrets."""

from __future__ import annotations

import json

from bc_anaplan.config import SETTING_NAMES
from bc_anaplan.secrets import SECRETS
from tests.support.processes import REPO_ROOT

RUNTIME = {"FUNCTIONS_WORKER_RUNTIME"}


def test_example_settings_are_known_and_secrets_empty() -> None:
    values = json.loads((REPO_ROOT / "local.settings.example.json").read_text())["Values"]
    secret_envs = {s.env_name for s in SECRETS}
    unknown = set(values) - SETTING_NAMES - secret_envs - RUNTIME
    assert unknown == set()
    assert {name: values[name] for name in secret_envs & set(values)} == {
        name: "" for name in secret_envs & set(values)
    }
    required = {"BC_TENANT_ID", "BC_ENVIRONMENT", "BC_CLIENT_ID"}
    assert required <= set(values)
