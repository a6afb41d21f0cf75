"""The ``flymq`` command: ``flymq serve``, ``flymq --version``.

Start-up time matters (a test fixture or a developer waits for ``flymq serve``), so this
module imports only argparse at import time; each subcommand imports what it needs.
Subcommands are listed in ``COMMANDS``: add one there (``flymq bench`` goes next to
``serve``) with a function that declares its arguments and one that runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any, Callable, Mapping, Sequence

__all__ = ["main", "COMMANDS", "load_serve_configs"]

READY_LINE = "flymq listening on {addr} (data: {data}, fsync: {fsync})"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flymq")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.1.0+source"


class _VersionAction(argparse.Action):
    """``--version`` that looks the version up only when asked (it costs an import)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"flymq {_version()}")
        parser.exit()


# --- flymq serve ---------------------------------------------------------------------------

def _config_classes() -> dict[str, type]:
    """TOML section name -> config dataclass, for everything ``flymq serve`` configures."""
    from flymq.broker.config import BrokerConfig
    from flymq.server.config import ServerConfig

    return {"server": ServerConfig, "broker": BrokerConfig}


class _ConfigFieldHelp(argparse.HelpFormatter):
    """Describes each config flag by its dataclass field docstring and default, computed only
    when help is printed: reading the classes' source costs milliseconds every start would pay.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        field = getattr(action, "config_field", None)
        if field is None:
            return super()._get_help_string(action)
        from flymq.config import field_docs

        cls, f = field
        if (cls.__name__, f.name) == ("BrokerConfig", "data_dir"):
            text, default = "Directory holding all topics and group offsets.", default_data_dir()
        else:
            text = field_docs(cls).get(f.name, "")
            default = f.default if f.default is not dataclasses.MISSING else None
        described = f"{text} (default: {default})" if text else f"default: {default}"
        return described.replace("%", "%%")  # argparse %-formats help strings


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _ConfigFieldHelp
    parser.add_argument("--config", metavar="FILE.toml",
                        help="TOML file with [server] and [broker] tables")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    # One flag per config field (--data-dir, --fsync, --idle-timeout-s, ...); values are
    # converted and checked by flymq.config, so the dataclasses stay the one place per fact.
    for section, cls in _config_classes().items():
        group = parser.add_argument_group(f"{section} settings (also [{section}] in --config, "
                                          "or FLYMQ_<NAME> environment variables)")
        for f in dataclasses.fields(cls):
            action = group.add_argument("--" + f.name.replace("_", "-"), dest=f.name,
                                        default=None, metavar="VALUE", help="(see the field)")
            action.config_field = (cls, f)  # read by _ConfigFieldHelp


def load_serve_configs(toml_path: str | None, env: Mapping[str, str],
                       flags: Mapping[str, Any]) -> dict[str, Any]:
    """``{"server": ServerConfig, "broker": BrokerConfig}`` from file, env and flags.

    The data directory defaults to the per-user data directory (``flymq serve`` keeps data
    across runs, unlike an embedded ``Broker()`` without a directory).
    """
    from flymq.config import ConfigError, load_config, read_toml

    classes = _config_classes()
    if toml_path is not None:
        unknown = sorted(set(read_toml(toml_path)) - set(classes))
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r} in {toml_path} (expected "
                              f"tables: {', '.join(f'[{s}]' for s in classes)})")
    configs = {}
    for section, cls in classes.items():
        names = {f.name for f in dataclasses.fields(cls)}
        overrides = {k: v for k, v in flags.items() if k in names}
        configs[section] = load_config(cls, toml_path=toml_path, env=env, overrides=overrides,
                                       section=section)
    broker = configs["broker"]
    if broker.data_dir is None:
        broker.data_dir = default_data_dir()
    return configs


def default_data_dir() -> str:
    """Where ``flymq serve`` keeps its data unless told otherwise: the user's data directory."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("flymq"), "data")


def _serve(args: argparse.Namespace) -> int:
    """Run a broker behind a TCP port until SIGINT/SIGTERM."""
    import logging

    from flymq.config import ConfigError

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        configs = load_serve_configs(args.config, os.environ, vars(args))
    except ConfigError as exc:
        print(f"flymq: {exc}", file=sys.stderr)
        return 2
    import asyncio

    from flymq.broker.broker import Broker
    from flymq.server import Server, loop_factory

    from flymq.errors import FlyMQError

    broker_cfg, server_cfg = configs["broker"], configs["server"]
    try:
        broker = Broker(broker_cfg.data_dir, broker_cfg)
    except (FlyMQError, OSError) as exc:  # e.g. the directory is locked by another broker
        print(f"flymq: cannot open the data directory: {exc}", file=sys.stderr)
        return 1
    try:
        new_loop = loop_factory(server_cfg.event_loop)
    except RuntimeError as exc:  # event_loop = "uvloop" without uvloop installed
        print(f"flymq: {exc}", file=sys.stderr)
        return 2
    with broker:
        server = Server(broker, server_cfg)

        def ready() -> None:
            print(READY_LINE.format(addr=server.advertised_address, data=broker.data_dir,
                                    fsync=broker_cfg.fsync), flush=True)

        try:
            with asyncio.Runner(loop_factory=new_loop) as runner:
                runner.run(server.serve_until_signalled(ready))
        except OSError as exc:  # typically: the port is taken
            print(f"flymq: cannot listen on {server_cfg.host}:{server_cfg.port}: {exc}",
                  file=sys.stderr)
            return 1
    return 0


# --- command table -------------------------------------------------------------------------

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="ARGS",
                        help="arguments of `python -m tools.bench` (see `flymq bench list` and "
                             "`python -m tools.bench --help`)")


def _bench(args: argparse.Namespace) -> int:
    """Run the benchmarks (tools/bench of a flymq source checkout)."""
    from pathlib import Path

    # tools/ is not installed with the package: look beside the package and above the cwd.
    roots = [Path(__file__).resolve().parents[1], *Path.cwd().resolve().parents, Path.cwd()]
    root = next((r for r in roots if (r / "tools" / "bench" / "cli.py").is_file()), None)
    if root is None:
        print("flymq: `flymq bench` needs a flymq source checkout (tools/bench/ was not found "
              "next to the flymq package or above the current directory); run it from the "
              "repository, or use `python -m tools.bench` there", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tools.bench.cli import main as bench_main

    return bench_main(args.bench_args)


COMMANDS: list[Command] = [
    ("serve", _add_serve_arguments, _serve),
    ("bench", _add_bench_arguments, _bench),
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flymq", description="flymq message broker")
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add_arguments, run in COMMANDS:
        p = sub.add_parser(name, help=(run.__doc__ or name).strip().splitlines()[0])
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.run(args)
