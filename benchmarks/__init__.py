"""Benchmarks (not tests): run each as a module from the repository root, e.g.
``python -m benchmarks.quality --help``. Their figures, with machine, date and command, are in
``benchmarks/RESULTS.md``."""
