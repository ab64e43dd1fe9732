"""``ANAPLAN_UPLOAD_CHUNK_MB``: the upload chunk size an operator chooses, within Anaplan's limits.

Anaplan takes at most 50 MB uncompressed per chunk and 1000 chunks per file; 10 MB is the
default. Smaller chunks mean cheaper retries on a poor link and less memory per
upload; larger ones fewer requests for very large files.
"""

from __future__ import annotations

from typing import Any

import pytest

from bc_anaplan.config import ConfigError
from tests.core.anaplan.conftest import RequestDelta, Sandbox, make_client, settings_for

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("0", "between 1 and 50"),
        ("51", "between 1 and 50"),
        ("2.5", "whole number"),
        ("ten", "whole number"),
    ],
)
def test_a_chunk_size_outside_anaplans_limits_is_refused(
    anaplan_sandbox: dict[str, Any], value: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=f"ANAPLAN_UPLOAD_CHUNK_MB must be.*{complaint}"):
        settings_for(anaplan_sandbox, ANAPLAN_UPLOAD_CHUNK_MB=value)


def test_the_default_is_ten_and_the_limits_themselves_are_allowed(
    anaplan_sandbox: dict[str, Any],
) -> None:
    assert settings_for(anaplan_sandbox).anaplan.upload_chunk_mb == 10
    assert make_client(anaplan_sandbox).upload_chunk_bytes == 10 * MIB
    for value in (1, 50):
        settings = settings_for(anaplan_sandbox, ANAPLAN_UPLOAD_CHUNK_MB=str(value))
        assert settings.anaplan.upload_chunk_mb == value


def test_uploads_are_cut_at_the_configured_size(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    client = make_client(anaplan_sandbox, ANAPLAN_UPLOAD_CHUNK_MB="1")
    action = client.find_import("Import Departments")
    rows = ([f"D{n:06d}", f"Department {n:06d} " + "x" * 190] for n in range(12_000))
    with RequestDelta(control) as api:
        uploaded = client.upload(action, rows, header=["Code", "Name"])
    assert 2 * MIB < uploaded.bytes < 3 * MIB
    assert uploaded.chunks == 3  # at the default of 10 MB this is one chunk
    assert api.count("PUT", "/files/{fileId}/chunks/{chunkId}", 204) == 3
    client.delete_upload(action)  # the model's sample file again
