"""Fill a config dataclass from defaults, a TOML file, ``FLYMQ_*`` variables and overrides.

Every component keeps its settings in one dataclass with defaults. This loader is the single
place that turns outside text into those fields, in a fixed order of precedence (later wins):
dataclass defaults, the TOML file (optionally one ``[section]`` of it), environment variables
named ``FLYMQ_<FIELD>``, and explicit overrides (CLI flags). Values are converted to the
field's annotated type, so a typo or a wrong type fails at start-up with a message naming the
key and where it came from, not later inside the broker.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import os
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

__all__ = ["ConfigError", "ENV_PREFIX", "load_config", "read_toml", "convert", "field_docs"]

ENV_PREFIX = "FLYMQ_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"", "none", "null"}

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key that cannot be used; the message says which and where."""


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax problems into :class:`ConfigError`."""
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None


def load_config(cls: type[T], *, toml_path: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = os.environ,
                overrides: Mapping[str, Any] | None = None, section: str | None = None) -> T:
    """An instance of the dataclass ``cls`` built from all sources, later ones winning.

    ``section`` selects a table of the TOML file (``[server]``); without it the whole file is
    used. Unknown keys in the file or in ``overrides`` are errors; environment variables that
    match no field are ignored (the environment is shared with other programs). ``None`` in
    ``overrides`` means "not given" (an unset CLI flag).
    """
    fields = _fields(cls)
    values: dict[str, Any] = {}
    if toml_path is not None:
        table = read_toml(toml_path)
        where = str(toml_path)
        if section is not None:
            table = table.get(section, {})
            where = f"[{section}] in {toml_path}"
            if not isinstance(table, dict):
                raise ConfigError(f"{section} must be a table in {toml_path}")
        for key, raw in table.items():
            values[key] = _convert_field(fields, key, raw, where)
    if env is not None:
        for name, hint in fields.items():
            var = ENV_PREFIX + name.upper()
            if var in env:
                values[name] = convert(env[var], hint, f"environment variable {var}")
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _convert_field(fields, key, raw, "command-line options")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # the dataclass's own checks (__post_init__)
        raise ConfigError(f"invalid {cls.__name__}: {exc}") from None


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a config dataclass, by field name.

    Config classes document a field with a string right below it (the attribute-docstring
    convention Sphinx reads); ``flymq serve --help`` shows these, so the dataclass stays the one
    place where a setting is described.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # no source (frozen app): help without text
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _fields(cls: type) -> dict[str, Any]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _convert_field(fields: dict[str, Any], key: str, raw: Any, where: str) -> Any:
    if key not in fields:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown config key {key!r} in {where} (known keys: {known})")
    return convert(raw, fields[key], f"{key!r} in {where}")


def convert(raw: Any, hint: Any, what: str) -> Any:
    """``raw`` (a string from the environment, or a TOML value) as type ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE):
            if len(options) < len(typing.get_args(hint)):
                return None
        errors = []
        for option in options:
            try:
                return convert(raw, option, what)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{what}: cannot use {raw!r}")
    if hint is Any:
        return raw
    try:
        return _scalar(raw, hint)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _scalar(raw: Any, hint: Any) -> Any:
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected true/false, got {raw!r}")
    if hint is int:
        if isinstance(raw, bool) or isinstance(raw, float):
            raise ValueError(f"expected an integer, got {raw!r}")
        return int(str(raw).strip().replace("_", "")) if isinstance(raw, str) else int(raw)
    if hint is float:
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        return float(raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, got {raw!r}")
        return raw
    if isinstance(hint, type) and issubclass(hint, Path):
        return hint(raw).expanduser()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(raw, hint)
    raise TypeError(f"unsupported config field type {hint!r}")


def _enum(raw: Any, hint: type[enum.Enum]) -> enum.Enum:
    if isinstance(raw, hint):
        return raw
    text = str(raw).strip()
    for member in hint:
        if text.lower() in (str(member.value).lower(), member.name.lower()):
            return member
    choices = "|".join(str(m.value) for m in hint)
    raise ValueError(f"expected one of {choices}, got {raw!r}")
