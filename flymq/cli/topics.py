"""``flymq topics list|create|delete|describe``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from flymq.cli.common import CliError, Formatter, add_target_arguments, open_client, show

if TYPE_CHECKING:
    from flymq.client import FlyMQClient

EXAMPLES = """examples:
  flymq topics list
  flymq topics create orders --partitions 3 --config retention_ms=86400000
  flymq topics describe orders --json
  flymq topics delete orders
  flymq topics list --data-dir ./data          (offline: no server running on ./data)
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("topics", help="list, create, delete and describe topics",
                            description="Manage topics.", epilog=EXAMPLES,
                            formatter_class=Formatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("list", help="topics with partitions and message counts",
                           epilog=EXAMPLES, formatter_class=Formatter)
    add_target_arguments(p)
    p.set_defaults(run=_list)

    p = actions.add_parser("create", help="create a topic", epilog=EXAMPLES,
                           formatter_class=Formatter)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--partitions", "-p", type=int, default=1, metavar="N",
                   help="number of partitions (default 1)")
    p.add_argument("--config", "-c", action="append", default=[], metavar="KEY=VALUE",
                   help="per-topic setting (repeatable): retention_ms, retention_bytes, "
                        "segment_bytes, segment_ms, compression, fsync")
    p.add_argument("--if-not-exists", action="store_true",
                   help="succeed when the topic exists with the same partition count")
    add_target_arguments(p)
    p.set_defaults(run=_create)

    p = actions.add_parser("delete", help="delete a topic and its records", epilog=EXAMPLES,
                           formatter_class=Formatter)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("--if-exists", action="store_true", help="succeed when there is no topic")
    add_target_arguments(p)
    p.set_defaults(run=_delete)

    p = actions.add_parser("describe", help="partitions, offsets, sizes and config",
                           epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("topic", metavar="TOPIC")
    add_target_arguments(p)
    p.set_defaults(run=_describe)


def _message_counts(client: "FlyMQClient", topic: str) -> list[int]:
    """Messages retained per partition (offsets only: no bytes on disk needed for a list)."""
    counts = []
    for p in range(client.partition_count(topic)):
        start, end = client.partition_offsets(topic, p)
        counts.append(end - start)
    return counts


def _list(args: argparse.Namespace) -> int:
    with open_client(args) as (client, _):
        rows = []
        for name in client.list_topics():
            counts = _message_counts(client, name)
            rows.append({"name": name, "partitions": len(counts), "messages": sum(counts)})
    show(args, rows, rows, ("name", "partitions", "messages"), empty="(no topics)")
    return 0


def _parse_config(pairs: list[str]) -> dict[str, Any]:
    from flymq.config import ConfigError, convert
    from flymq.topic_config import TopicConfig
    import dataclasses
    import typing

    hints = typing.get_type_hints(TopicConfig)
    names = {f.name for f in dataclasses.fields(TopicConfig)}
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise CliError(f"--config wants KEY=VALUE, got {pair!r}", 2)
        if key not in names:
            raise CliError(f"unknown topic setting {key!r} (known: {', '.join(sorted(names))})",
                           2)
        try:
            config[key] = convert(value, hints[key], f"--config {key}")
        except ConfigError as exc:
            raise CliError(str(exc), 2) from None
    return config


def _create(args: argparse.Namespace) -> int:
    if args.partitions < 1:
        raise CliError(f"--partitions must be at least 1, got {args.partitions}", 2)
    config = _parse_config(args.config)
    with open_client(args, create=True) as (client, _):
        if args.topic in client.list_topics():
            existing = client.partition_count(args.topic)
            if not args.if_not_exists:
                raise CliError(f"topic {args.topic} already exists ({existing} partitions); "
                               "--if-not-exists accepts that")
            if existing != args.partitions:
                raise CliError(f"topic {args.topic} exists with {existing} partitions, not "
                               f"{args.partitions} (partitions are fixed at creation)")
            created = False
        else:  # exist_ok=False: a topic created meanwhile by someone else is an error too
            client.create_topic(args.topic, args.partitions, config=config or None,
                                exist_ok=False)
            created = True
    result = {"topic": args.topic, "partitions": args.partitions, "created": created}
    if args.json:
        show(args, result, [], ())
    else:
        print(f"{'created' if created else 'exists'}: {args.topic} "
              f"({args.partitions} partition{'s' if args.partitions != 1 else ''})")
    return 0


def _delete(args: argparse.Namespace) -> int:
    with open_client(args) as (client, _):
        exists = args.topic in client.list_topics()
        if not exists and not args.if_exists:
            raise CliError(f"no topic {args.topic} (--if-exists accepts that)")
        if exists:
            client.delete_topic(args.topic)
    if args.json:
        show(args, {"topic": args.topic, "deleted": exists}, [], ())
    else:
        print(f"{'deleted' if exists else 'no such topic'}: {args.topic}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    with open_client(args) as (client, _):
        if args.topic not in client.list_topics():
            raise CliError(f"no topic {args.topic} (flymq topics list shows them)")
        described = client.describe_topic(args.topic)
    parts = [{"partition": p["partition"], "start_offset": p["start_offset"],
              "end_offset": p["end_offset"], "messages": p["end_offset"] - p["start_offset"],
              "size_bytes": p["size_bytes"]} for p in described["partitions"]]
    config = described["config"]
    document = {"name": args.topic, "partitions": parts, "config": config}
    if args.json:
        show(args, document, [], ())
        return 0
    print(f"topic {args.topic}: {len(parts)} partition{'s' if len(parts) != 1 else ''}, "
          f"config: {_config_text(config)}")
    show(args, document, parts, ("partition", "start_offset", "end_offset", "messages",
                                 "size_bytes"))
    return 0


def _config_text(config: dict[str, Any] | None) -> str:
    if config is None:  # an upstream FlyMQ server (no DESCRIBE_TOPIC) cannot tell
        return "(not available over TCP; use --data-dir)"
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "broker defaults"
