"""Benchmarks of the connector: speed, memory and request counts against the targets of issue 12.

``python -m bench <name> [--entries N]`` runs one benchmark, ``python -m bench all`` (``make
bench``) runs them all. Each starts the sandbox as its own process, runs the connector (the real
app on the local host, or the baseline script) as another process measured from the outside
(wall time, CPU time and peak RSS from ``wait4``), reads the request counts from the sandbox's
request log, writes ``bench/results/<name>.json`` and prints a short table. See
``bench/README.md`` for what each figure means.
"""
