"""Benchmarks. `make bench` runs them; each writes its section of bench/RESULTS.md."""
