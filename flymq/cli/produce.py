"""``flymq produce``: messages from the command line, a file or standard input."""

from __future__ import annotations

import argparse
import sys
from typing import IO, Iterator

from flymq.cli.common import (CliError, Formatter, add_target_arguments, open_client,
                              positive_int, print_json, progress)

EXAMPLES = """examples:
  flymq produce orders 'hello'                       one message
  flymq produce orders 'hello' --key user-1 --header source=cli
  seq 1000 | flymq produce orders                    one message per line of stdin
  flymq produce orders --key-separator : < lines     'KEY:VALUE' lines (kcat -K:)
  flymq produce orders --file msgs.txt               one message per line of the file
  flymq produce orders --file image.png --whole      the whole file as one message
  flymq produce orders 'load {i}' --count 100000     {i} becomes 0, 1, 2, ...
"""

BATCH = 1000  # records per request when producing many plain messages (one round trip each)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="send messages to a topic",
                       description="Send messages to a topic. Without VALUE, each line of "
                                   "--file or standard input is one message.",
                       epilog=EXAMPLES, formatter_class=Formatter)
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument("value", nargs="?", metavar="VALUE", help="the message (UTF-8 text)")
    p.add_argument("--key", "-k", metavar="KEY", help="message key (same key, same partition)")
    p.add_argument("--partition", "-p", type=positive_int, metavar="N",
                   help="partition (default: by key hash, else round-robin)")
    p.add_argument("--header", "-H", action="append", default=[], metavar="NAME=VALUE",
                   help="record header (repeatable)")
    p.add_argument("--file", "-f", metavar="FILE", help="read messages from FILE ('-': stdin)")
    p.add_argument("--whole", action="store_true",
                   help="the whole file or standard input is one message (not one per line)")
    p.add_argument("--key-separator", "-K", metavar="SEP",
                   help="each line is KEY SEP VALUE (as kcat -K and kafka-console-producer's "
                        "parse.key)")
    p.add_argument("--count", "-n", type=positive_int, metavar="N",
                   help="send VALUE N times; '{i}' in it becomes the message number")
    add_target_arguments(p)
    p.set_defaults(run=run)


def _headers(pairs: list[str]) -> dict[str, str]:
    headers = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--header wants NAME=VALUE, got {pair!r}", 2)
        headers[name] = value
    return headers


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    for line in stream:
        yield line.rstrip(b"\r\n") if line.endswith(b"\n") else line


def _messages(args: argparse.Namespace) -> Iterator[tuple[bytes | None, bytes]]:
    """``(key, value)`` of every message to send, in order."""
    key = args.key.encode() if args.key is not None else None
    if args.value is not None:
        if args.file is not None:
            raise CliError("give VALUE or --file, not both", 2)
        value = args.value
        if args.count is None:
            yield key, value.encode()
            return
        for i in range(args.count):
            yield key, value.replace("{i}", str(i)).encode()
        return
    if args.count is not None:
        raise CliError("--count repeats VALUE: give one", 2)
    if args.file in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            print("flymq: reading messages from the terminal, one per line; end with Ctrl-D",
                  file=sys.stderr)
        stream = sys.stdin.buffer
        yield from _from_stream(args, key, stream)
        return
    try:
        with open(args.file, "rb") as stream:
            yield from _from_stream(args, key, stream)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from None


def _from_stream(args: argparse.Namespace, key: bytes | None, stream: IO[bytes]
                 ) -> Iterator[tuple[bytes | None, bytes]]:
    if args.whole:
        yield key, stream.read()
        return
    separator = args.key_separator.encode() if args.key_separator else None
    for line in _lines(stream):
        if separator is None:
            yield key, line
            continue
        k, sep, value = line.partition(separator)
        if not sep:
            raise CliError(f"line without the key separator {args.key_separator!r}: "
                           f"{line[:60]!r}")
        yield k, value


def run(args: argparse.Namespace) -> int:
    headers = _headers(args.header)
    if args.whole and args.key_separator:
        raise CliError("--whole and --key-separator do not go together", 2)
    sent, first, last = 0, None, None
    # lines typed or piped slowly go out as they come; a fast pipe still goes in batches
    streaming = args.value is None and args.file in (None, "-") and not args.whole
    with open_client(args, create=True) as (client, _):
        bar = progress(total=args.count, desc=f"produce {args.topic}", unit="msg") \
            if args.count else progress()
        with bar:
            pending: list[tuple[bytes | None, bytes, int]] = []

            def flush() -> None:
                nonlocal first, last
                if pending:
                    _, placed = client.append_batch(args.topic, pending)
                    first = first or placed[0]
                    last = placed[-1]
                    bar.update(len(pending))
                    pending.clear()

            for key, value in _messages(args):
                if headers:  # headers go one record per request
                    md = client.produce(args.topic, value, key=key, partition=args.partition,
                                        headers=headers)
                    first = first or (md.partition, md.offset)
                    last = (md.partition, md.offset)
                    bar.update(1)
                else:
                    pending.append((key, value, -1 if args.partition is None
                                    else args.partition))
                    if len(pending) >= BATCH or (streaming and _stdin_idle()):
                        flush()
                sent += 1
            flush()
    summary = {"topic": args.topic, "messages": sent,
               "first": _position(first), "last": _position(last)}
    if args.json:
        print_json(summary)
    elif sent == 1:
        print(f"produced 1 message to {args.topic} (partition {first[0]}, offset {first[1]})")
    else:
        print(f"produced {sent} messages to {args.topic}")
    return 0


def _stdin_idle() -> bool:
    """Whether nothing more is waiting on standard input right now."""
    import select

    try:
        return not select.select([sys.stdin], [], [], 0)[0]
    except (OSError, ValueError):
        return True


def _position(placed: tuple[int, int] | None) -> dict[str, int] | None:
    return None if placed is None else {"partition": placed[0], "offset": placed[1]}
