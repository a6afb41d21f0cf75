"""``flymq topics list|create|delete|describe``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from flymq.cli.common import (CliError, Formatter, add_target_arguments, open_client,
                              partition_size, show)

if TYPE_CHECKING:
    from flymq.broker import Broker
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


def _partitions(client: "FlyMQClient", broker: "Broker | None", topic: str
                ) -> list[dict[str, Any]]:
    """One row per partition: offsets, message count and (embedded only) bytes on disk."""
    rows = []
    for p in range(client.partition_count(topic)):
        start, end = client.partition_offsets(topic, p)
        row = {"partition": p, "start_offset": start, "end_offset": end,
               "messages": end - start, "size_bytes": None}
        if broker is not None:
            row["size_bytes"] = partition_size(broker.data_dir, topic, p)
        rows.append(row)
    return rows


def _list(args: argparse.Namespace) -> int:
    with open_client(args) as (client, broker):
        rows = []
        for name in client.list_topics():
            parts = _partitions(client, broker, name)
            rows.append({"name": name, "partitions": len(parts),
                         "messages": sum(p["messages"] for p in parts)})
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
    with open_client(args) as (client, broker):
        if args.topic not in client.list_topics():
            raise CliError(f"no topic {args.topic} (flymq topics list shows them)")
        parts = _partitions(client, broker, args.topic)
        config = broker.topic_metadata(args.topic).config if broker is not None else None
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
    if config is None:
        return "(not available over TCP; use --data-dir)"
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "broker defaults"
