"""Compatibility modes: which registered versions a new schema is checked against, and in
which direction (who reads whose data).

BACKWARD: consumers on the new schema read data written with the old (new = reader).
FORWARD: consumers still on the old schema read data written with the new (old = reader).
FULL: both. A ``_TRANSITIVE`` mode checks every live version, the others only the latest.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from flymq.errors import InvalidRequestError

MODES = ("none", "backward", "forward", "full", "backward_transitive", "forward_transitive",
         "full_transitive")
DEFAULT_MODE = "backward"

S = TypeVar("S")


def check_mode(mode: object) -> str:
    """The mode's canonical (lower-case) name; InvalidRequestError for anything else."""
    name = str(getattr(mode, "value", mode)).strip().lower()
    if name not in MODES:
        raise InvalidRequestError(f"invalid compatibility mode: {mode}",
                                  hint=f"Use one of {', '.join(m.upper() for m in MODES)}.")
    return name


def problems(mode: str, new: S, versions: Sequence[tuple[int, S]],
             reader_problems: Callable[[S, S], list[str]]) -> list[str]:
    """What breaks when ``new`` joins ``versions`` (``(version, schema)``, oldest first)
    under ``mode``; ``reader_problems(reader, writer)`` compares two schemas."""
    if mode == "none" or not versions:
        return []
    against = versions if mode.endswith("_transitive") else versions[-1:]
    base = mode.removesuffix("_transitive")
    found: list[str] = []
    for version, old in reversed(against):
        if base in ("backward", "full"):
            found += [f"new schema reading v{version} data: {p}"
                      for p in reader_problems(new, old)]
        if base in ("forward", "full"):
            found += [f"v{version} reading new-schema data: {p}"
                      for p in reader_problems(old, new)]
    return found
