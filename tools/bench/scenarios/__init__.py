"""Benchmark scenarios; each module registers itself with @scenario."""
