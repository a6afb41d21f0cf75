"""Latency percentiles and throughput arithmetic."""

from __future__ import annotations

from collections.abc import Sequence

MB = 1_000_000


def percentiles(values_ns: Sequence[int], points: Sequence[float] = (50, 95, 99)
                ) -> dict[str, float]:
    """Nearest-rank percentiles of nanosecond samples, in milliseconds (``"p50 ms"`` ...)."""
    if not values_ns:
        return {f"p{p:g} ms": float("nan") for p in points}
    ordered = sorted(values_ns)
    last = len(ordered) - 1
    return {f"p{p:g} ms": ordered[min(last, round(p / 100 * last))] / 1e6 for p in points}


def throughput(count: int, size: int, seconds: float) -> dict[str, float]:
    """``msgs/s`` and ``MB/s`` (10^6 bytes) for ``count`` messages of ``size`` bytes."""
    seconds = max(seconds, 1e-9)
    return {"msgs/s": count / seconds, "MB/s": count * size / seconds / MB}


def size_text(size: int) -> str:
    """A message size as the B1 matrix names it: ``100 B``, ``1 KiB``, ``100 KiB``."""
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
