"""``python -m bench <name> [--entries N]``: run one benchmark (or ``all``) and print a table.

Results go to ``bench/results/<name>.json``. Azurite: the one named by ``AzureWebJobsStorage``
(``make bench`` starts it), else one started here for the run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import benchmarks as b

NAMES = ("actuals-1m", "incremental", "writeback-10k", "baseline", "orchestration-overhead")
DEFAULTS = {
    "actuals-1m": 1_000_000,
    "incremental": 5_000,
    "writeback-10k": 10_000,
    "baseline": 1_000_000,
    "orchestration-overhead": 1_000,
    "all": 1_000_000,
}


@contextmanager
def storage() -> Iterator[str]:
    existing = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 (the Functions setting)
    if existing:
        yield existing
        return
    from devtools.azurite import Azurite

    with Azurite() as azurite:
        yield azurite.connection_string


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=(*NAMES, "all"))
    parser.add_argument(
        "--entries",
        type=int,
        help="size of the work: G/L entries (actuals-1m, baseline, all: the dataset; "
        "incremental: new entries, on a 1M dataset unless --dataset), plan lines "
        "(writeback-10k), activities (orchestration-overhead)",
    )
    parser.add_argument(
        "--dataset", type=int, default=1_000_000, help="incremental: entries already loaded"
    )
    parser.add_argument(
        "--scaling",
        type=lambda text: [int(x) for x in text.split(",") if x],
        help="actuals-1m: dataset sizes of the memory runs, comma-separated (default: "
        "entries/4; empty string: none)",
    )
    parser.add_argument("--results-dir", type=Path, default=b.RESULTS_DIR)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, conn: str) -> list[dict[str, Any]]:
    opts = b.Options(storage=conn, results_dir=args.results_dir)
    n = args.entries or DEFAULTS[args.name]
    if args.name == "all":
        return b.run_all(opts, n)
    print(f"== {args.name} ({n:,})", flush=True)
    if args.name == "actuals-1m":
        return [b.actuals(opts, n, scaling=args.scaling)]
    if args.name == "orchestration-overhead":
        return [b.orchestration_overhead(opts, n)]
    if args.name == "writeback-10k":
        with b.Session(opts, "small") as session:
            return [b.writeback(session, n)]
    if args.name == "baseline":
        with b.Session(opts, n) as session:
            return [b.baseline(session)]
    with b.Session(opts, args.dataset) as session:
        return [b.incremental(session, n)]


def main(argv: list[str]) -> int:
    args = parse(argv)
    with storage() as conn:
        results = run(args, conn)
    for result in results:
        print(f"wrote {b.write(result, args.results_dir)}")
    print()
    print(b.table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
