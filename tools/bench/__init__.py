"""flymq benchmarks B1-B6 and the storage scenario (see shared BENCHMARKS.md).

Run ``python -m tools.bench --help`` from the repository root.
"""
