"""Fault injection: what a real, busy, flaky service does to a client, on demand and reproducibly.

Two kinds of rules, both per service:

* **rates** (``--faults SPEC`` or ``POST /_sandbox/faults {"spec": ...}``): each request to the
  service draws one number from a random generator seeded from ``--seed`` and the service name,
  and gets at most one fault with the configured probability. Same seed, same request order, same
  faults.
* **targeted rules** (``POST /_sandbox/faults {"rules": [...]}``): the next ``count`` requests that
  match a method and a route template get a given fault. Targeted rules win over rates.

Fault kinds:

=========  ===================================================================================
``429``    rejected before processing, ``Retry-After`` set (seconds or HTTP date)
``409``    "model busy" (Anaplan, opt-in only), rejected before processing
``500``..  ``500 502 503 504``: rejected before processing, with the service's error body
``408``    request timeout, rejected before processing
``reset``  connection closed before the request is processed (nothing happened server-side)
``drop``   the request **is processed**, then the connection is closed without a response: the
           client cannot know the outcome (the case that makes blind POST retries dangerous)
``slow``   the response is delayed by ``slow_s`` seconds, then served normally
=========  ===================================================================================

SPEC grammar: ``service:kind=rate[,kind=rate...][,retry_after=S][,retry_after_format=date]
[,slow_s=S][;service:...]`` where ``service`` is one of the service names or ``all``.
Example: ``bc:429=0.1,503=0.02,reset=0.01;anaplan_api:429=0.1,retry_after=2``.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from typing import Any

SERVICES = ("entra", "keyvault", "bc", "anaplan_auth", "anaplan_api")
STATUS_KINDS = ("408", "409", "429", "500", "502", "503", "504")
KINDS = (*STATUS_KINDS, "reset", "drop", "slow")


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after_s: float
    retry_after_format: str  # "seconds" or "date"
    slow_s: float

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind in STATUS_KINDS else None


@dataclass
class ServiceFaults:
    rates: dict[str, float] = field(default_factory=dict)
    retry_after_s: float | None = None
    retry_after_format: str = "seconds"
    slow_s: float | None = None


@dataclass
class TargetedRule:
    service: str
    kind: str
    count: int
    method: str | None = None
    route: str | None = None  # route template as reported by /_sandbox/requests

    def matches(self, service: str, method: str, route: str) -> bool:
        return (
            self.count > 0
            and self.service in (service, "all")
            and (self.method is None or self.method.upper() == method.upper())
            and (self.route is None or self.route == route)
        )


def parse_spec(spec: str) -> dict[str, ServiceFaults]:
    """Parse a SPEC string into per-service rate settings (see the module docstring)."""
    result: dict[str, ServiceFaults] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        service, sep, body = part.partition(":")
        service = service.strip()
        if not sep or (service not in SERVICES and service != "all"):
            raise FaultSpecError(
                f"fault spec part {part!r}: expected '<service>:<kind>=<rate>,...' "
                f"with service one of {', '.join(SERVICES)} or 'all'"
            )
        faults = ServiceFaults()
        for item in filter(None, (i.strip() for i in body.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise FaultSpecError(f"fault spec item {item!r}: expected key=value")
            key = key.strip()
            try:
                if key == "retry_after":
                    faults.retry_after_s = float(value)
                elif key == "retry_after_format":
                    if value not in ("seconds", "date"):
                        raise FaultSpecError("retry_after_format must be 'seconds' or 'date'")
                    faults.retry_after_format = value
                elif key == "slow_s":
                    faults.slow_s = float(value)
                elif key in KINDS:
                    rate = float(value)
                    if not 0.0 <= rate <= 1.0:
                        raise FaultSpecError(f"rate for {key} must be within 0..1, got {value}")
                    faults.rates[key] = rate
                else:
                    raise FaultSpecError(f"unknown fault kind {key!r}; known: {', '.join(KINDS)}")
            except ValueError as exc:
                if isinstance(exc, FaultSpecError):
                    raise
                raise FaultSpecError(
                    f"fault spec item {item!r}: {value!r} is not a number"
                ) from exc
        if sum(faults.rates.values()) > 1.0:
            raise FaultSpecError(f"fault rates for {service} add up to more than 1")
        targets = SERVICES if service == "all" else (service,)
        for target in targets:
            result[target] = faults
    return result


class FaultInjector:
    """Decides, per request, whether and how to misbehave. Deterministic under a seed."""

    def __init__(self, seed: int, fast: bool, default_retry_after_s: dict[str, float]) -> None:
        self.seed = seed
        self.fast = fast
        self.default_retry_after_s = default_retry_after_s
        self.rates: dict[str, ServiceFaults] = {}
        self.targeted: list[TargetedRule] = []
        self._rngs: dict[str, random.Random] = {}

    def _rng(self, service: str) -> random.Random:
        if service not in self._rngs:
            self._rngs[service] = random.Random(self.seed ^ zlib.crc32(service.encode()))
        return self._rngs[service]

    def configure(self, spec: str) -> None:
        """Replace all rate rules with those of ``spec`` (an empty spec removes them)."""
        self.rates = parse_spec(spec)
        self._rngs.clear()

    def add_rules(self, rules: list[dict[str, Any]]) -> None:
        parsed = []
        for raw in rules:
            kind = str(raw.get("kind", ""))
            service = str(raw.get("service", ""))
            if kind not in KINDS:
                raise FaultSpecError(f"rule kind {kind!r} unknown; known: {', '.join(KINDS)}")
            if service not in SERVICES and service != "all":
                raise FaultSpecError(
                    f"rule service {service!r} unknown; known: {', '.join(SERVICES)}"
                )
            count = int(raw.get("count", 1))
            parsed.append(TargetedRule(service, kind, count, raw.get("method"), raw.get("route")))
        self.targeted.extend(parsed)

    def clear(self) -> None:
        self.rates = {}
        self.targeted = []
        self._rngs.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "rates": {s: f.rates for s, f in self.rates.items()},
            "rules": [vars(r) for r in self.targeted if r.count > 0],
        }

    def pick(self, service: str, method: str, route: str) -> Fault | None:
        settings = self.rates.get(service, ServiceFaults())
        for rule in self.targeted:
            if rule.matches(service, method, route):
                rule.count -= 1
                return self._fault(service, rule.kind, settings)
        if not settings.rates:
            return None
        draw = self._rng(service).random()
        cumulative = 0.0
        for kind, rate in settings.rates.items():
            cumulative += rate
            if draw < cumulative:
                return self._fault(service, kind, settings)
        return None

    def _fault(self, service: str, kind: str, settings: ServiceFaults) -> Fault:
        retry_after = settings.retry_after_s
        if retry_after is None:
            retry_after = self.default_retry_after_s.get(service, 5.0)
            if self.fast:
                retry_after = 1.0
        slow = settings.slow_s if settings.slow_s is not None else (0.2 if self.fast else 2.0)
        return Fault(kind, retry_after, settings.retry_after_format, slow)
