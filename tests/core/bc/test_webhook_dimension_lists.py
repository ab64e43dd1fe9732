"""A dimension-value notification names its changed values; the flow reads them to find the lists.

``flows.webhooks._dimension_lists`` reads every changed value in one filtered request (``or`` on
``id``, a few dozen ids per request so the URL stays short), decoded like every other BC read,
and falls back to every dimension list when a value is gone (deleted) or a key is not an id.
Counted against the sandbox's request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bc_anaplan.bc import streams
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.records import DimensionValue
from bc_anaplan.flows.webhooks import IDS_PER_FILTER, MAX_TARGETED_READS, _dimension_lists
from bc_anaplan.pipeline import Pipeline
from tests.core.bc.conftest import Controls, bc_settings, count, delta

VALUES = "/companies({id})/dimensionValues"
ONE_VALUE = "/companies({id})/dimensionValues({id})"
DIMENSIONS = "/companies({id})/dimensions"
MAX_QUERY = 2048  # the query-string length common web servers accept by default


@pytest.fixture(scope="module")
def pipeline(sandbox: dict[str, Any]) -> Pipeline:
    return bc_settings(sandbox)[0].pipeline()


@pytest.fixture
def urls(bc: BcClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every URL the client requests, as sent (the request log keeps only routes)."""
    sent: list[str] = []
    real = bc.get

    def get(url: str, **kwargs: Any) -> httpx.Response:
        sent.append(str(httpx.URL(url, params=kwargs.get("params"))))
        return real(url, **kwargs)

    monkeypatch.setattr(bc, "get", get)
    yield sent


def values_by_dimension(bc: BcClient) -> dict[str, list[DimensionValue]]:
    codes = {d.id: d.code for d in streams.iter_dimensions(bc)}
    found: dict[str, list[DimensionValue]] = {}
    for value in streams.iter_dimension_values(bc):
        found.setdefault(codes[value.dimension_id], []).append(value)
    return found


def notified(bc: BcClient, *ids: str) -> dict[str, Any]:
    company = bc.company_url("").rstrip("/").split("/api/", 1)[-1]
    resources = [f"/api/{company}/dimensionValues({value_id})" for value_id in ids]
    return {"resources": resources, "collection": False}


def test_changed_values_are_read_in_one_request(
    bc: BcClient, pipeline: Pipeline, controls: Controls, urls: list[str]
) -> None:
    mapped = [d.bc_dimension for d in pipeline.dimensions]
    by_dimension = values_by_dimension(bc)
    changed = [v.id for v in by_dimension[mapped[0]][:3]] + [by_dimension[mapped[-1]][0].id]
    before = controls.requests()
    lists = _dimension_lists(bc, pipeline, notified(bc, *changed))
    log = delta(before, controls.requests())
    assert lists == [f"dimension:{mapped[0]}", f"dimension:{mapped[-1]}"]
    assert count(log, "GET", VALUES, 200) == 1
    assert count(log, "GET", ONE_VALUE, None) == 0
    assert count(log, "GET", DIMENSIONS, 200) == 1
    assert sum(log.values()) == 2


def test_fifty_values_cost_two_short_requests(
    bc: BcClient, pipeline: Pipeline, controls: Controls, urls: list[str]
) -> None:
    every = [f"dimension:{d.bc_dimension}" for d in pipeline.dimensions]
    changed = [v.id for values in values_by_dimension(bc).values() for v in values]
    assert len(changed) >= MAX_TARGETED_READS, "the sandbox has fewer dimension values"
    changed = changed[:MAX_TARGETED_READS]
    urls.clear()
    before = controls.requests()
    lists = _dimension_lists(bc, pipeline, notified(bc, *changed))
    log = delta(before, controls.requests())
    assert set(lists) <= set(every) and lists
    assert count(log, "GET", VALUES, 200) == -(-MAX_TARGETED_READS // IDS_PER_FILTER) == 2
    filtered = [u for u in urls if "dimensionValues?" in u]
    assert len(filtered) == 2
    assert all(len(httpx.URL(u).query) < MAX_QUERY for u in filtered), [len(u) for u in filtered]


def test_a_deleted_value_means_every_list(
    bc: BcClient, pipeline: Pipeline, controls: Controls
) -> None:
    every = [f"dimension:{d.bc_dimension}" for d in pipeline.dimensions]
    some = next(iter(values_by_dimension(bc).values()))[0].id
    gone = "00000000-0000-0000-0000-00000000dead"
    before = controls.requests()
    assert _dimension_lists(bc, pipeline, notified(bc, some, gone)) == every
    assert count(delta(before, controls.requests()), "GET", VALUES, 200) == 1


def test_a_key_that_is_no_id_means_every_list_without_a_read(
    bc: BcClient, pipeline: Pipeline, controls: Controls
) -> None:
    every = [f"dimension:{d.bc_dimension}" for d in pipeline.dimensions]
    some = next(iter(values_by_dimension(bc).values()))[0].id
    before = controls.requests()
    lists = _dimension_lists(bc, pipeline, notified(bc, some, "x' or code ne 'y"))
    assert lists == every
    assert sum(delta(before, controls.requests()).values()) == 0
