"""An app whose start-up check fails, as the production app does when a setting is missing."""

from __future__ import annotations

import azure.durable_functions as df

app = df.DFApp()


def startup_check() -> None:
    raise RuntimeError("required setting BC_TENANT_ID is not set\n(see README)")
