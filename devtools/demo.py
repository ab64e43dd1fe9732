"""``make demo``: run the connector end to end against the local sandbox and Azurite.

Until the load flows exist (issue 8) this is a smoke check: it starts the sandbox, validates the
connector's configuration against the sandbox's ``connector_env``, and says plainly what is not
built yet.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

NOT_BUILT = [
    "reference sync, actuals load and employee load (issue 8)",
    "plan writeback (issue 9)",
]


def main() -> int:
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--scale", "small", "--fast"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        line = sandbox.stdout.readline()
        if not line:
            print("demo: the sandbox did not start", file=sys.stderr)
            return 1
        info = json.loads(line)
        env = {**os.environ, **info["connector_env"]}
        print(f"sandbox up: BC {info.get('bc')}, Anaplan {info.get('anaplan_api')}")
        check = subprocess.run(
            [sys.executable, "-m", "bc_anaplan", "check"], cwd=REPO_ROOT, env=env
        )
        print("not built yet:")
        for item in NOT_BUILT:
            print(f"  - {item}")
        return check.returncode
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
