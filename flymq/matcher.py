"""MQTT-style topic patterns (§14): ``+`` matches one level, ``#`` the rest (even none)."""

from __future__ import annotations

__all__ = ["is_pattern", "match_pattern", "resolve"]


def is_pattern(s: str) -> bool:
    return "+" in s or "#" in s


def match_pattern(pattern: str, topic: str) -> bool:
    levels = topic.split("/")
    for i, part in enumerate(pattern.split("/")):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(levels) == len(pattern.split("/"))


def resolve(topics: list[str], existing: list[str]) -> list[str]:
    """``topics`` with each pattern replaced by the matching ``existing`` names, in order, once."""
    out: list[str] = []
    for t in topics:
        for name in ([n for n in existing if match_pattern(t, n)] if is_pattern(t) else [t]):
            if name not in out:
                out.append(name)
    return out
