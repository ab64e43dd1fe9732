"""The per-item memory of BC notifications against real Table Storage (Azurite)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from bc_anaplan.config import StorageSettings
from bc_anaplan.flows.seen_notifications import SeenNotifications, identity, row_of
from bc_anaplan.storage import Storage


@pytest.fixture
def seen(azurite: str) -> SeenNotifications:
    hub = "t" + uuid.uuid4().hex[:12]
    storage = Storage(StorageSettings(connection_string=azurite, account_name=None, task_hub=hub))
    return SeenNotifications(storage)


def item(key: str, modified: str, change: str = "updated") -> dict[str, str]:
    return {
        "subscriptionId": "c670ea73cacb459bb51dc1740da2f1db",
        "clientState": "secret",
        "expirationDateTime": "2026-11-29T00:00:00Z",
        "resource": f"/api/v2.0/companies(x)/accounts({key})",
        "changeType": change,
        "lastModifiedDateTime": modified,
    }


def test_items_are_remembered_one_by_one(seen: SeenNotifications) -> None:
    x, y = item("x", "2026-11-26T10:00:00.1Z"), item("y", "2026-11-26T10:00:01Z")
    assert seen.unseen([x]) == [x]
    seen.remember([x], {identity(x): "webhook:1"})
    assert seen.unseen([x, y, x]) == [y]  # repeats inside one delivery count once
    assert seen.unseen([{**x, "lastModifiedDateTime": "2026-11-26T10:05:00Z"}]) != []
    assert seen.unseen([{**x, "changeType": "deleted"}]) != []
    many = [item(str(i), "2026-11-26T11:00:00Z") for i in range(150)]
    seen.remember(many, {})  # more than one transaction of a day
    assert seen.unseen([*many, y]) == [y]


def test_days_before_the_cutoff_are_forgotten_whole(seen: SeenNotifications) -> None:
    old = [item(str(i), "2026-11-01T23:59:59.999Z") for i in range(120)]
    recent = item("r", "2026-11-20T00:00:00Z")
    seen.remember([*old, recent], {})
    assert row_of(old[0])[0] == "2026-11-01"
    assert seen.forget_before(date(2026, 11, 20)) == 120
    assert seen.unseen([*old[:2], recent]) == old[:2]
    assert seen.forget_old(datetime(2026, 11, 26, tzinfo=UTC)) == 0  # a week is kept
    assert seen.forget_old(datetime(2026, 11, 28, tzinfo=UTC)) == 1
