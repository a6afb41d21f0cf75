"""Partition assignment strategies of consumer groups: range, round-robin and sticky.

Each strategy is a pure function of the members' subscriptions (and, for sticky, of what each
member owned before) that gives every subscribed topic-partition to exactly one member that
subscribes to its topic. Members are taken in member-id order, so the same input always gives
the same assignment (Kafka's assignors do the same).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

TopicPartition = tuple[str, int]
Assignment = dict[str, list[TopicPartition]]

#: Strategy names in the order a member prefers them when it names none.
DEFAULT_STRATEGIES = ("range", "roundrobin", "sticky")


def _interested(members: Mapping[str, Sequence[str]], topic: str) -> list[str]:
    return sorted(m for m, topics in members.items() if topic in topics)


def assign_range(members: Mapping[str, Sequence[str]], partitions: Mapping[str, int],
                 owned: Mapping[str, Sequence[TopicPartition]] | None = None) -> Assignment:
    """Per topic, consecutive partition ranges to the members subscribing to it (the first
    members get one more when it does not divide evenly)."""
    result: Assignment = {m: [] for m in members}
    for topic in sorted(partitions):
        takers = _interested(members, topic)
        if not takers:
            continue
        share, extra = divmod(partitions[topic], len(takers))
        start = 0
        for i, member in enumerate(takers):
            count = share + (1 if i < extra else 0)
            result[member].extend((topic, p) for p in range(start, start + count))
            start += count
    return result


def assign_roundrobin(members: Mapping[str, Sequence[str]], partitions: Mapping[str, int],
                      owned: Mapping[str, Sequence[TopicPartition]] | None = None) -> Assignment:
    """Every topic-partition in turn to the next member (in member-id order) subscribing to its
    topic: spreads partitions of several topics more evenly than range."""
    result: Assignment = {m: [] for m in members}
    order = sorted(members)
    turn = 0
    for topic in sorted(partitions):
        for p in range(partitions[topic]):
            for _ in range(len(order)):
                member = order[turn % len(order)]
                turn += 1
                if topic in members[member]:
                    result[member].append((topic, p))
                    break
    return result


def assign_sticky(members: Mapping[str, Sequence[str]], partitions: Mapping[str, int],
                  owned: Mapping[str, Sequence[TopicPartition]] | None = None) -> Assignment:
    """Balanced like round-robin, but a member keeps what it owned where that stays balanced,
    so a rebalance moves as few partitions as it can (Kafka's sticky assignor, simplified to
    members of equal subscriptions first)."""
    owned = owned or {}
    result: Assignment = {m: [] for m in members}
    every = [(t, p) for t in sorted(partitions) for p in range(partitions[t])]
    eligible = {tp: _interested(members, tp[0]) for tp in every}
    wanted = [tp for tp in every if eligible[tp]]
    if not wanted:
        return result
    # fair share: the most any member may hold when partitions are spread evenly
    quota = -(-len(wanted) // len(members))
    taken: set[TopicPartition] = set()
    for member in sorted(members):
        for tp in owned.get(member, ()):
            tp = (tp[0], tp[1])
            if (tp in eligible and member in eligible[tp] and tp not in taken
                    and len(result[member]) < quota):
                result[member].append(tp)
                taken.add(tp)
    for tp in wanted:
        if tp in taken:
            continue
        member = min(eligible[tp], key=lambda m: (len(result[m]), m))
        result[member].append(tp)
    # move from the fullest to the emptiest while that narrows the spread
    while True:
        fullest = max(result, key=lambda m: (len(result[m]), m))
        emptiest = min(result, key=lambda m: (len(result[m]), m))
        if len(result[fullest]) - len(result[emptiest]) <= 1:
            break
        movable = [tp for tp in result[fullest] if emptiest in eligible[tp]]
        if not movable:
            break
        tp = movable[-1]
        result[fullest].remove(tp)
        result[emptiest].append(tp)
    for member in result:
        result[member].sort()
    return result


STRATEGIES: dict[str, Callable[..., Assignment]] = {
    "range": assign_range,
    "roundrobin": assign_roundrobin,
    "sticky": assign_sticky,
}
"""Every strategy by the name members give in their join (``round-robin`` is accepted too)."""


def strategy_name(name: str) -> str:
    """The canonical name of ``name`` (``round-robin`` and ``round_robin`` are ``roundrobin``),
    or ``name`` unchanged when unknown."""
    canonical = name.strip().lower().replace("-", "").replace("_", "")
    return canonical if canonical in STRATEGIES else name
