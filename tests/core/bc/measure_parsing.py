"""Measure orjson against json on one 20,000-entry G/L page from the sandbox.

Run: ``.venv/bin/python -m tests.core.bc.measure_parsing`` (not a test: timings are reported,
not asserted). Parses the bytes the pager receives, parse alone and parse + decode into
``GlEntry`` records, seven interleaved rounds.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from bc_anaplan.bc.paging import read_headers
from bc_anaplan.bc.records import decode_gl_entry
from bc_anaplan.bc.streams import GL_ENTRIES
from tests.core.bc.conftest import make_client
from tests.support.processes import running_sandbox


def measure(cases: dict[str, Callable[[], Any]], rounds: int = 7) -> dict[str, list[float]]:
    """Interleaved rounds (so machine load hits every case alike), a full collection before each."""
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, action in cases.items():
            gc.collect()
            started = time.perf_counter()
            action()
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    with running_sandbox("--scale", "20000", "--fast") as info:
        client = make_client(info)
        response = client.get(
            GL_ENTRIES.url(client), params=GL_ENTRIES.query(), headers=read_headers(20_000)
        )
    content = response.content
    assert len(orjson.loads(content)["value"]) == 20_000

    def decode_all(body: dict[str, Any]) -> list[Any]:
        return [decode_gl_entry(raw) for raw in body["value"]]

    timings = measure(
        {
            "parse: orjson": lambda: orjson.loads(content),
            "parse: json": lambda: json.loads(content),
            "parse + decode: orjson (float -> exact Decimal)": lambda: decode_all(
                orjson.loads(content)
            ),
            "parse + decode: json (parse_float=Decimal)": lambda: decode_all(
                json.loads(content, parse_float=Decimal)
            ),
        }
    )
    print(f"one page: 20,000 G/L entries with dimension set lines, {len(content) / 1e6:.1f} MB")
    for name, values in timings.items():
        values.sort()
        print(f"{name:50s} min {values[0]:6.0f} ms   median {values[len(values) // 2]:6.0f} ms")


if __name__ == "__main__":
    main()
