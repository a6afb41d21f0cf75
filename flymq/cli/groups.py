"""``flymq groups list|describe|reset|delete``: consumer groups, their offsets and lag.

A flymq group is kept per topic (as upstream's): a group that reads two topics appears once
for each.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from flymq.cli.common import (CliError, Formatter, add_target_arguments, open_client,
                              positive_int, print_json, show)

if TYPE_CHECKING:
    from flymq.client import FlyMQClient

EXAMPLES = """examples:
  flymq groups list
  flymq groups describe billing                  offsets and lag on every topic it reads
  flymq groups reset billing --topic orders --to earliest             shows the plan
  flymq groups reset billing --topic orders --to earliest --execute   does it
  flymq groups reset billing --topic orders --to 42 --partition 0 --execute
  flymq groups delete billing --topic orders
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("groups", help="list, describe, reset and delete consumer groups",
                            description="Manage consumer groups.", epilog=EXAMPLES,
                            formatter_class=Formatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("list", help="groups with their topics and members",
                           epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("--topic", "-t", default="", metavar="TOPIC", help="only groups of TOPIC")
    add_target_arguments(p)
    p.set_defaults(run=_list)

    p = actions.add_parser("describe", help="committed offsets and lag per partition",
                           epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("group", metavar="GROUP")
    p.add_argument("--topic", "-t", default="", metavar="TOPIC", help="only on TOPIC")
    add_target_arguments(p)
    p.set_defaults(run=_describe)

    p = actions.add_parser("reset", help="move committed offsets (dry run without --execute)",
                           epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("group", metavar="GROUP")
    p.add_argument("--topic", "-t", required=True, metavar="TOPIC")
    p.add_argument("--to", required=True, metavar="WHERE",
                   help="earliest, latest or an OFFSET")
    p.add_argument("--partition", "-p", type=positive_int, metavar="N",
                   help="only this partition (default: all)")
    p.add_argument("--execute", action="store_true",
                   help="change the offsets (as kafka-consumer-groups --execute); without it, "
                        "only show what would change")
    add_target_arguments(p)
    p.set_defaults(run=_reset)

    p = actions.add_parser("delete", help="forget a group's offsets on a topic",
                           epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("group", metavar="GROUP")
    p.add_argument("--topic", "-t", required=True, metavar="TOPIC")
    add_target_arguments(p)
    p.set_defaults(run=_delete)


def _list(args: argparse.Namespace) -> int:
    with open_client(args) as (client, _):
        groups = client.list_consumer_groups(args.topic)
    rows = [{"group": g.get("group_id"), "topic": g.get("topic"), "members": g.get("members"),
             "partitions": len(g.get("offsets", []))} for g in groups]
    show(args, groups, rows, ("group", "topic", "members", "partitions"),
         empty="(no consumer groups)")
    return 0


def _rows(client: "FlyMQClient", group: dict[str, Any]) -> list[dict[str, Any]]:
    topic, group_id = group["topic"], group["group_id"]
    rows = []
    for entry in group.get("offsets", []):
        p = entry["partition"]
        try:
            end = client.partition_offsets(topic, p)[1]
        except Exception:  # noqa: BLE001 - the topic was deleted: offsets stay, lag is unknown
            end = None
        rows.append({"group": group_id, "topic": topic, "partition": p,
                     "committed": entry["offset"], "end_offset": end,
                     "lag": None if end is None else max(0, end - entry["offset"])})
    return rows


def _describe(args: argparse.Namespace) -> int:
    with open_client(args) as (client, _):
        groups = [g for g in client.list_consumer_groups(args.topic)
                  if g.get("group_id") == args.group]
        if not groups:
            where = f" on topic {args.topic}" if args.topic else ""
            raise CliError(f"no consumer group {args.group}{where} (flymq groups list shows "
                           "them)")
        rows = [row for g in groups for row in _rows(client, g)]
    document = [{**g, "partitions": [r for r in rows if r["topic"] == g["topic"]]}
                for g in groups]
    show(args, document, rows, ("group", "topic", "partition", "committed", "end_offset", "lag"),
         empty="(no committed offsets)")
    return 0


def _parse_to(to: str) -> str | int:
    if to in ("earliest", "beginning", "latest", "end"):
        return to
    try:
        return int(to)
    except ValueError:
        raise CliError(f"--to: expected earliest, latest or an offset, got {to!r}", 2) from None


def _target(client: "FlyMQClient", topic: str, partition: int, to: str | int) -> int:
    start, end = client.partition_offsets(topic, partition)
    if to in ("earliest", "beginning"):
        return start
    if to in ("latest", "end"):
        return end
    offset = int(to)
    if not start <= offset <= end:
        raise CliError(f"--to {offset}: partition {partition} of {topic} holds offsets "
                       f"{start}..{end} (the end means: only new messages)")
    return offset


def _committed(client: "FlyMQClient", topic: str, group: str, partition: int) -> int | None:
    from flymq.errors import ConsumerGroupNotFoundError

    try:
        return client.get_committed_offset(topic, group, partition)
    except ConsumerGroupNotFoundError:  # a group that never committed: reset creates it
        return None


def _reset(args: argparse.Namespace) -> int:
    to = _parse_to(args.to)
    with open_client(args) as (client, _):
        if args.topic not in client.list_topics():
            raise CliError(f"no topic {args.topic}")
        count = client.partition_count(args.topic)
        if args.partition is not None and args.partition >= count:
            raise CliError(f"topic {args.topic} has partitions 0..{count - 1}, not "
                           f"{args.partition}")
        parts = range(count) if args.partition is None else [args.partition]
        plan = []
        for p in parts:
            plan.append({"group": args.group, "topic": args.topic, "partition": p,
                         "committed": _committed(client, args.topic, args.group, p),
                         "new_offset": _target(client, args.topic, p, to)})
        if args.execute:
            for row in plan:
                client.commit_offset(args.topic, args.group, row["partition"],
                                     row["new_offset"])
    if args.json:
        print_json({"executed": args.execute, "partitions": plan})
        return 0
    show(args, plan, plan, ("group", "topic", "partition", "committed", "new_offset"))
    if not args.execute:
        print("(dry run: add --execute to change the offsets)")
    return 0


def _delete(args: argparse.Namespace) -> int:
    with open_client(args) as (client, _):
        client.delete_consumer_group(args.topic, args.group)
    if args.json:
        print_json({"group": args.group, "topic": args.topic, "deleted": True})
    else:
        print(f"deleted: group {args.group} on {args.topic}")
    return 0
