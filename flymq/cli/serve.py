"""``flymq serve``: a broker behind a TCP port until SIGINT/SIGTERM.

Start-up time matters (a test fixture or a developer waits for ``flymq serve``), so this
module imports only argparse at import time; the broker and server load when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any, Mapping

__all__ = ["register", "load_serve_configs", "default_data_dir", "READY_LINE"]

READY_LINE = "flymq listening on {addr} (data: {data}, fsync: {fsync})"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

EXAMPLES = """examples:
  flymq serve                                   127.0.0.1:9092, data in the user data dir
  flymq serve --port 0 --data-dir /tmp/dev      any free port, throw-away data
  flymq serve --fsync always --auto-create-topics false
  FLYMQ_PORT=9093 flymq serve --config flymq.toml

Booleans take true/false (also yes/no, on/off, 1/0); "none" clears an optional number.
To start over with an empty broker: stop it and delete its data directory (the path is in
the line `flymq serve` prints when ready), or use a fresh --data-dir.
"""


def register(sub: argparse._SubParsersAction, *, full: bool = True) -> None:
    """``full``: declare one flag per config field, which imports the config classes (and
    with them the broker and server packages, ~0.4 s); only ``flymq serve`` itself needs
    them, so every other command registers the name alone."""
    parser = sub.add_parser("serve", help="run a broker behind a TCP port",
                            description="Run a broker behind a TCP port until SIGINT/SIGTERM.",
                            epilog=EXAMPLES)
    if full:
        _add_serve_arguments(parser)
    parser.set_defaults(run=_serve)


def _config_classes() -> dict[str, type]:
    """TOML section name -> config dataclass, for everything ``flymq serve`` configures."""
    from flymq.broker.config import BrokerConfig
    from flymq.server.config import ServerConfig

    return {"server": ServerConfig, "broker": BrokerConfig}


class _ConfigFieldHelp(argparse.RawDescriptionHelpFormatter):
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
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=LOG_LEVELS,
                        metavar="LEVEL",
                        help=f"logging level: {', '.join(LOG_LEVELS)} (default WARNING)")
    # One flag per config field (--data-dir, --fsync, --idle-timeout-s, ...); values are
    # converted and checked by flymq.config, so the dataclasses stay the one place per fact.
    for section, cls in _config_classes().items():
        group = parser.add_argument_group(f"{section} settings (also [{section}] in --config, "
                                          "or FLYMQ_<NAME> environment variables)")
        for f in dataclasses.fields(cls):
            action = group.add_argument("--" + f.name.replace("_", "-"), dest=f.name,
                                        default=None, metavar=_metavar(cls, f.name),
                                        help="(see the field)")
            action.config_field = (cls, f)  # read by _ConfigFieldHelp


def _metavar(cls: type, name: str) -> str:
    """What a flag's value looks like, from the field's type: true|false, N, N|none, TEXT."""
    import typing

    hint = typing.get_type_hints(cls)[name]
    options = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    shown = {bool: "true|false", int: "N", float: "SECONDS" if name.endswith("_s") else "X",
             str: "DIR" if name.endswith("_dir") else "TEXT"}.get(options[0], "VALUE")
    return shown + ("|none" if len(options) < len(typing.get_args(hint)) and shown != "DIR"
                    else "")


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

    logging.basicConfig(level=args.log_level, stream=sys.stderr,
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


