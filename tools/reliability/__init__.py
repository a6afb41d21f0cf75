"""Scripts that rerun the figures of docs/reliability.md (``python -m tools.reliability.NAME``)."""
