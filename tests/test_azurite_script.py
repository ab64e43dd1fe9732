"""The Azurite script starts the emulator, and stops exactly that process, also on failure."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest
from azure.data.tables import TableServiceClient

from devtools.azurite import Azurite
from tests.support.processes import REPO_ROOT


def test_context_manager_stops_its_process_even_when_the_body_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), Azurite() as azurite:
        pid = azurite.process.pid
        service = TableServiceClient.from_connection_string(azurite.connection_string)
        service.create_table("probe")
        assert [t.name for t in service.list_tables()] == ["probe"]
        raise RuntimeError("boom")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_run_wrapper_passes_the_exit_code_and_leaves_nothing_behind() -> None:
    child = (
        "import os, re, sys; c = os.environ['AzureWebJobsStorage']; "
        "print(re.search(r'TableEndpoint=http://127.0.0.1:(\\d+)', c).group(1)); sys.exit(3)"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devtools.azurite", "run", "--", sys.executable, "-c", child],
        cwd=REPO_ROOT,
        timeout=90,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3, result.stderr
    port = result.stdout.strip()
    assert port.isdigit()
    survivors = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "--tablePort" in (p.info["cmdline"] or []) and port in (p.info["cmdline"] or [])
    ]
    assert survivors == []
