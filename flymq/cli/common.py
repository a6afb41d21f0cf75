"""What every ``flymq`` command shares: the target (a server or a data directory), output as a
table or JSON, progress bars, and the one-line error every failure ends in.

Commands raise :class:`CliError` (or let a :class:`~flymq.errors.FlyMQError` through);
``flymq.cli.main`` prints it as one line on stderr and exits non-zero, never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    from flymq.broker import Broker
    from flymq.client import FlyMQClient

DEFAULT_SERVER = "127.0.0.1:9092"
SERVER_ENV = "FLYMQ_SERVER"

#: Exit codes: 1 = the operation failed, 2 = bad usage (argparse's), 130 = interrupted.
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class CliError(Exception):
    """A failure the user can fix; printed as ``flymq: <message>`` with exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def one_line(exc: BaseException) -> str:
    """An exception as one line: a flymq error's message and hint, anything else's text."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = getattr(exc, "hint", None)
    text = f"{message} ({hint.rstrip('.')})" if hint else message
    return " ".join(text.split())


# --- arguments --------------------------------------------------------------------------------

class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written (the examples keep their lines)."""


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--server`` / ``--data-dir`` and ``--json``, on every command that reads or writes."""
    group = parser.add_argument_group("target (one of)")
    target = group.add_mutually_exclusive_group()
    target.add_argument("--server", "-b", metavar="HOST:PORT", default=None,
                        help=f"a running flymq server (default: ${SERVER_ENV}, "
                             f"else {DEFAULT_SERVER}); -b as in kcat")
    target.add_argument("--data-dir", metavar="DIR", default=None,
                        help="open the data directory in this process instead (embedded, "
                             "offline: no server may be running on it)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output (one JSON document, or one JSON "
                             "object per line for messages)")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


# --- the target -------------------------------------------------------------------------------

def server_address(args: argparse.Namespace) -> str:
    return args.server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER


@contextlib.contextmanager
def open_broker(data_dir: str, *, create: bool = False) -> Iterator["Broker"]:
    """An embedded broker on ``data_dir``, with an error that says what to do when a server
    holds the directory or when it is not a flymq data directory."""
    from flymq.broker import Broker
    from flymq.errors import StorageError

    path = Path(data_dir)
    if not path.exists() and not create:
        raise CliError(f"no flymq data directory at {data_dir}")
    if path.exists() and not path.is_dir():
        raise CliError(f"{data_dir} is not a directory")
    if path.is_dir() and any(path.iterdir()) and not (path / "topics").is_dir():
        raise CliError(f"{data_dir} is not a flymq data directory (it has no topics/ "
                       "directory)")
    try:
        broker = Broker(path)
    except StorageError as exc:
        if "in use" in exc.message:
            raise CliError(f"{data_dir} is in use by a running broker (a `flymq serve`?): "
                           f"talk to it with --server HOST:PORT, or stop it first") from None
        raise
    with broker:
        yield broker


@contextlib.contextmanager
def open_client(args: argparse.Namespace, *, create: bool = False
                ) -> Iterator[tuple["FlyMQClient", "Broker | None"]]:
    """``(client, broker)``: a client of the server, or of an embedded broker on
    ``--data-dir`` (then also that broker; None with ``--server``)."""
    from flymq.client import FlyMQClient
    from flymq.errors import NoAvailableServerError

    if args.data_dir is not None:
        with open_broker(args.data_dir, create=create) as broker:
            with FlyMQClient(broker=broker) as client:
                yield client, broker
        return
    address = server_address(args)
    try:  # one attempt: a person at a terminal wants the answer now, not after retries
        client = FlyMQClient(address, max_retries=1, connect_timeout_ms=3000)
    except NoAvailableServerError:
        raise CliError(f"cannot reach a flymq server at {address} (start one with "
                       "`flymq serve`, or pass --server HOST:PORT or --data-dir DIR)") from None
    with client:
        yield client, None


# --- output -----------------------------------------------------------------------------------

def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=False, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                empty: str = "(none)") -> None:
    """Rows as aligned columns under upper-case headers; numbers right-aligned."""
    if not rows:
        print(empty)
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), int) for row in rows) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        print("  ".join(v.rjust(w) if num else v.ljust(w)
                        for v, w, num in zip(r, widths, numeric)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


def show(args: argparse.Namespace, document: Any, rows: Sequence[dict[str, Any]],
         columns: Sequence[str], empty: str = "(none)") -> None:
    """``document`` as JSON with ``--json``, else ``rows`` as a table."""
    if args.json:
        print_json(document)
    else:
        print_table(rows, columns, empty)


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None,
             desc: str = "", unit: str = "it") -> Any:
    """A tqdm bar on stderr when stderr is a terminal; on a pipe (or without tqdm) a bar that
    shows nothing, so scripts and logs never get control characters."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency; a stripped install
            pass
        else:
            return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                        leave=False, dynamic_ncols=True)
    return _Silent(iterable)


class _Silent:
    """The part of tqdm's interface the commands use, doing nothing."""

    def __init__(self, iterable: Iterable[Any] | None):
        self._iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self._iterable or ())

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc: object) -> None:
        pass
