"""``flymq consume``: print messages of a topic (or of every topic a pattern matches)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flymq.cli.common import CliError, Formatter, add_target_arguments, open_client, positive_int

if TYPE_CHECKING:
    from flymq.client import FlyMQClient
    from flymq.models import ConsumedMessage

EXAMPLES = """examples:
  flymq consume orders                        everything there is, then exit (kcat -C -e)
  flymq consume orders --follow               and then wait for more (Ctrl-C stops)
  flymq consume orders --from latest --follow only what arrives from now on
  flymq consume orders --from -10             the last 10 messages of each partition
  flymq consume orders --from 2026-12-07T06:00   from a time (ISO-8601, or @MS since epoch)
  flymq consume 'sensors/#' --show-offset     every topic the MQTT-style pattern matches
  flymq consume orders --group billing        from the group's committed offsets, committing
  flymq consume orders --format json | jq .value
"""

BATCH = 500          # messages per fetch
WAIT_S = 0.5         # how long --follow waits between rounds when nothing arrives


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("consume", help="print messages of a topic or pattern",
                       description="Print messages, one per line. Without --follow, stop at "
                                   "the end of every partition.",
                       epilog=EXAMPLES, formatter_class=Formatter)
    _add_arguments(p)
    p = sub.add_parser("subscribe", help="consume --follow (as upstream's flymq-cli)",
                       description="Print messages as they arrive: `flymq consume --follow`.",
                       epilog=EXAMPLES, formatter_class=Formatter)
    _add_arguments(p)
    p.set_defaults(follow=True)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", metavar="TOPIC|PATTERN",
                   help="a topic, or an MQTT-style pattern ('+' one level, '#' the rest)")
    p.add_argument("--group", "-g", metavar="GROUP",
                   help="read from GROUP's committed offsets and commit what was printed")
    p.add_argument("--from", dest="start", default=None, metavar="WHERE",
                   help="earliest (default without a group), latest, OFFSET, -N (N before "
                        "the end), @MS or an ISO-8601 time; with --group the default is "
                        "the committed offset, else earliest")
    p.add_argument("--partition", "-p", type=positive_int, metavar="N",
                   help="only this partition")
    p.add_argument("--max", "-m", type=positive_int, metavar="N", dest="max_messages",
                   help="stop after N messages")
    p.add_argument("--follow", "-F", action="store_true",
                   help="wait for new messages (and for a topic that does not exist yet)")
    p.add_argument("--format", choices=("raw", "json"), default="raw",
                   help="raw: the value as is, one per line; json: one object per line")
    p.add_argument("--show-key", action="store_true", help="print the key before the value")
    p.add_argument("--show-headers", action="store_true", help="print the headers")
    p.add_argument("--show-offset", action="store_true",
                   help="print topic/partition@offset first")
    add_target_arguments(p)
    p.set_defaults(run=run)


class Position:
    """Where to start, parsed from ``--from``."""

    def __init__(self, text: str | None):
        self.text = text
        self.mode, self.value = "earliest", 0
        if text is None or text in ("earliest", "beginning"):
            return
        if text in ("latest", "end"):
            self.mode = "latest"
            return
        if text.startswith("@") or text.startswith("s@"):
            self.mode, self.value = "timestamp", _int(text.split("@", 1)[1], text)
            return
        try:
            number = int(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                raise CliError(f"--from: expected earliest, latest, an offset, -N, @MS or an "
                               f"ISO-8601 time, got {text!r}", 2) from None
            self.mode, self.value = "timestamp", int(when.timestamp() * 1000)
            return
        self.mode, self.value = ("from_end", -number) if number < 0 else ("offset", number)

    def resolve(self, client: "FlyMQClient", topic: str, partition: int) -> int:
        start, end = client.partition_offsets(topic, partition)
        if self.mode == "earliest":
            return start
        if self.mode == "latest":
            return end
        if self.mode == "from_end":
            return max(start, end - self.value)
        if self.mode == "timestamp":
            return client.offset_for_timestamp(topic, partition, self.value)
        return min(max(self.value, start), end)


def _int(text: str, whole: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"--from: {whole!r} is not @<milliseconds since the epoch>", 2) from None


def _topics(client: "FlyMQClient", pattern: str, follow: bool) -> list[str]:
    """The topics to read; with ``follow``, waits for a missing one (as Kafka consumers do)."""
    from flymq.matcher import is_pattern, resolve

    announced = False
    while True:
        existing = client.list_topics()
        found = resolve([pattern], existing) if is_pattern(pattern) else \
            [pattern] if pattern in existing else []
        if found:
            return found
        what = f"no topic matches {pattern}" if is_pattern(pattern) else f"no topic {pattern}"
        if not follow:
            raise CliError(f"{what} (flymq topics list shows them; --follow waits for it)")
        if not announced:
            print(f"flymq: {what} yet; waiting for it (Ctrl-C stops)", file=sys.stderr)
            announced = True
        time.sleep(WAIT_S)


def _text(data: bytes | None) -> Any:
    """A value for JSON output: text when it is UTF-8, else {"base64": ...}."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


class Printer:
    def __init__(self, args: argparse.Namespace):
        self.json = args.format == "json" or args.json
        self.args = args
        self.out = sys.stdout.buffer

    def __call__(self, m: "ConsumedMessage") -> None:
        if self.json:
            line = json.dumps({"topic": m.topic, "partition": m.partition, "offset": m.offset,
                               "timestamp": m.timestamp_ms, "key": _text(m.key),
                               "headers": m.headers, "value": _text(m.data)})
            self.out.write(line.encode() + b"\n")
            return
        parts = []
        if self.args.show_offset:
            parts.append(f"{m.topic}/{m.partition}@{m.offset}".encode())
        if self.args.show_key:
            parts.append(m.key if m.key is not None else b"")
        if self.args.show_headers:
            parts.append(",".join(f"{k}={v}" for k, v in m.headers.items()).encode())
        parts.append(m.data)
        self.out.write(b"\t".join(parts) + b"\n")


def run(args: argparse.Namespace) -> int:
    position = Position(args.start)
    printer = Printer(args)
    printed = 0
    with open_client(args) as (client, _):
        topics = _topics(client, args.topic, args.follow)
        if args.group and args.partition is None:
            return _as_member(args, client, position, printer)
        positions: dict[tuple[str, int], int] = {}
        for topic in topics:
            count = client.partition_count(topic)
            wanted = range(count) if args.partition is None else [args.partition]
            if args.partition is not None and args.partition >= count:
                raise CliError(f"topic {topic} has partitions 0..{count - 1}, not "
                               f"{args.partition}")
            for p in wanted:
                if args.group and args.start is None:
                    positions[(topic, p)] = client.subscribe(topic, args.group, p, "commit")
                else:
                    if args.group:
                        client.subscribe(topic, args.group, p, "earliest")  # join the group
                    positions[(topic, p)] = position.resolve(client, topic, p)
        wake = threading.Event()
        while True:
            round_count = 0
            for (topic, p), offset in positions.items():
                budget = BATCH if args.max_messages is None else \
                    min(BATCH, args.max_messages - printed)
                if budget <= 0:
                    break
                result = client.fetch(topic, p, offset, budget)
                for message in result.messages:
                    printer(message)
                printed += len(result.messages)
                round_count += len(result.messages)
                positions[(topic, p)] = result.next_offset
                if args.group and result.next_offset != offset:
                    client.commit_offset(topic, args.group, p, result.next_offset)
            sys.stdout.flush()
            if args.max_messages is not None and printed >= args.max_messages:
                break
            if round_count:
                continue
            if not args.follow:
                break
            client.wait_for_records([(t, p, o) for (t, p), o in positions.items()],
                                    WAIT_S, wake)
    _summary(printer, printed)
    return 0


def _summary(printer: Printer, printed: int) -> None:
    if not printer.json and sys.stderr.isatty():
        print(f"flymq: {printed} message{'s' if printed != 1 else ''}", file=sys.stderr)


def _as_member(args: argparse.Namespace, client: "FlyMQClient", position: Position,
               printer: Printer) -> int:
    """``--group`` without ``--partition``: read as a member of the group (as
    kafka-console-consumer does), so several of them share the partitions; what is printed
    is committed."""
    printed = 0
    with client.consumer(args.topic, group_id=args.group, auto_offset_reset="earliest",
                         enable_auto_commit=False) as consumer:
        if args.start is not None:
            for topic, p in consumer.assignment():
                consumer.seek(p, position.resolve(client, topic, p), topic=topic)
        while args.max_messages is None or printed < args.max_messages:
            budget = BATCH if args.max_messages is None else \
                min(BATCH, args.max_messages - printed)
            messages = consumer.poll(timeout_ms=int(WAIT_S * 1000), max_records=budget)
            for message in messages:
                printer(message)
            sys.stdout.flush()
            printed += len(messages)
            if messages:
                consumer.commit()
            elif not args.follow and all(
                    consumer.position(p, topic=t) >= client.partition_offsets(t, p)[1]
                    for t, p in consumer.assignment()):
                break
    _summary(printer, printed)
    return 0
