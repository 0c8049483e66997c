"""Tether's benchmark suite: ``python -m bench run [--smoke]`` (see docs/performance.md)."""
