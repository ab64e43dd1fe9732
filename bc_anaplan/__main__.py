"""``python -m bc_anaplan check`` and ``python -m bc_anaplan ops ...``.

``check`` validates the configuration and says what is wrong in one line: exit code 0 when every
setting and the pipeline file are valid, 2 otherwise. No network calls: ``/api/ping`` (the ops
API, ``python -m bc_anaplan ops ping``) is the check that actually talks to BC and Anaplan.

``ops`` is the command-line client of a running app's ops API (``bc_anaplan.ops.cli``).
"""

from __future__ import annotations

import sys

from bc_anaplan.config import ConfigError, load_settings

USAGE = "usage: python -m bc_anaplan check | python -m bc_anaplan ops COMMAND ... (ops --help)"


def main(argv: list[str]) -> int:
    if argv[:1] == ["ops"]:
        from bc_anaplan.ops.cli import main as ops_main

        return ops_main(argv[1:])
    if argv != ["check"]:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(p.name for p in settings.pipelines)
    print(f"configuration ok: pipelines {names} from {settings.config_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
