"""``python -m bc_anaplan check``: validate the configuration and say what is wrong in one line.

Exit code 0 when every setting and the pipeline file are valid, 2 otherwise. No network calls:
``/api/ping`` (the ops API) is the check that actually talks to BC and Anaplan.
"""

from __future__ import annotations

import sys

from bc_anaplan.config import ConfigError, load_settings


def main(argv: list[str]) -> int:
    if argv != ["check"]:
        print("usage: python -m bc_anaplan check", file=sys.stderr)
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
