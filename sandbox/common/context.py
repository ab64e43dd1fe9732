"""What every simulator in the process shares: seed, scale, clock, faults, TLS, URLs, master data.

One ``SandboxContext`` is created by the server before any service is built; services keep a
reference and must not create their own clocks, random generators or certificate authorities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.common.clock import SimClock
from sandbox.common.faults import FaultInjector
from sandbox.common.tls import SandboxTls

# Named scales: number of G/L entries (the dominant volume). Master data is the same at every
# scale so that lists, accounts and employees look the same in unit tests and in the demo.
SCALES = {"small": 3_000, "demo": 100_000, "bench": 1_000_000}


def parse_scale(text: str) -> tuple[str, int]:
    """``small``/``demo``/``bench`` or a plain entry count such as ``50000``."""
    if text in SCALES:
        return text, SCALES[text]
    try:
        entries = int(text)
    except ValueError as exc:
        raise ValueError(f"--scale must be one of {', '.join(SCALES)} or an integer") from exc
    if entries < 0:
        raise ValueError("--scale must not be negative")
    return str(entries), entries


@dataclass
class SandboxContext:
    seed: int
    scale_name: str
    entries: int
    fast: bool
    workdir: Path
    clock: SimClock
    faults: FaultInjector
    tls: SandboxTls
    # base URL per service name ("bc", "entra", "keyvault", "anaplan_auth", "anaplan_api"),
    # known before any service is built (the server binds every socket first)
    urls: dict[str, str] = field(default_factory=dict)
    # shared in-process state between services, e.g. Entra's issued tokens that BC and Key Vault
    # validate; keys are owned by the service that writes them
    shared: dict[str, Any] = field(default_factory=dict)

    def wait(self, real_seconds: float) -> float:
        """A wait the real service imposes, shortened tenfold with ``--fast``."""
        return real_seconds / 10.0 if self.fast else real_seconds
