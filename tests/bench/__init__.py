"""Smoke test of the benchmarks (``bench/``): each one, small, so the harness keeps working."""
