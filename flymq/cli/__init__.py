"""The ``flymq`` command: one module per command group, each with a ``register(sub)`` that
declares its arguments (with examples in ``--help``) and sets ``run``.

Start-up time matters (``flymq serve`` in a test fixture, a shell loop of ``flymq produce``),
so modules import only argparse at import time; each command imports what it needs when it
runs. Every failure ends in one line on stderr and a non-zero exit (1: the operation failed,
2: bad usage, 130: interrupted), never a traceback. Later command groups (``schemas``,
``dlq``, ``tx``) add a module and a line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Sequence

from flymq.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, CliError, one_line
from flymq.cli.serve import READY_LINE, default_data_dir, load_serve_configs

__all__ = ["main", "COMMANDS", "load_serve_configs", "default_data_dir", "READY_LINE"]

#: Command modules of this package, in the order ``flymq --help`` lists them.
COMMANDS = ("serve", "topics", "produce", "consume", "groups", "inspect_data", "bench")

DESCRIPTION = """flymq: an embeddable message broker, its dev server and its tools.

Commands that talk to a broker take --server HOST:PORT (default $FLYMQ_SERVER, else
127.0.0.1:9092) or --data-dir DIR (the broker's files, opened in this process), and --json.
`flymq COMMAND --help` shows each command's options and examples; docs/cli.md maps them to
kafka-console-producer/-consumer, kcat and flymq-cli habits."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flymq")
    except PackageNotFoundError:  # running from a source tree that is not installed
        import flymq
        return f"{flymq.__version__}+source"


class _VersionAction(argparse.Action):
    """``--version`` that looks the version up only when asked (it costs an import)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"flymq {_version()}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse's usage errors as one line plus where to look, with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _parser(command: str | None = "serve") -> argparse.ArgumentParser:
    """The whole parser; ``command`` (the first argument) spares the other commands the
    cost of ``serve``'s config flags."""
    parser = _Parser(prog="flymq", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"flymq.cli.{name}")
        if name == "serve":
            module.register(sub, full=command == "serve")
        else:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except CliError as exc:
        print(f"flymq: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `flymq consume ... | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - the promise: one line, never a traceback
        import os

        from flymq.errors import FlyMQError

        if os.environ.get("FLYMQ_DEBUG"):
            raise
        text = one_line(exc)
        if not isinstance(exc, (FlyMQError, OSError)):  # a flymq bug: say how to see it
            text = f"internal error: {type(exc).__name__}: {text} (FLYMQ_DEBUG=1 shows the " \
                   "traceback; please report it)"
        print(f"flymq: {text}", file=sys.stderr)
        return EXIT_FAILED


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
