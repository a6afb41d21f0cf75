"""flymq.config.load_config and the `flymq serve` configuration sources."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from pathlib import Path

import pytest

from flymq.cli import load_serve_configs
from flymq.config import ConfigError, load_config


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Sample:
    name: str = "x"
    count: int = 1
    ratio: float = 0.5
    on: bool = False
    color: Color = Color.RED
    limit: int | None = None
    where: Path = Path(".")


def test_defaults():
    assert load_config(Sample, env={}) == Sample()


def test_env_strings_are_converted():
    env = {"FLYMQ_COUNT": "1_000", "FLYMQ_RATIO": "2", "FLYMQ_ON": "yes", "FLYMQ_COLOR": "BLUE",
           "FLYMQ_LIMIT": "none", "FLYMQ_WHERE": "/tmp/x", "FLYMQ_UNRELATED": "ignored"}
    assert load_config(Sample, env=env) == Sample("x", 1000, 2.0, True, Color.BLUE, None,
                                                  Path("/tmp/x"))
    assert load_config(Sample, env={"FLYMQ_LIMIT": "7"}).limit == 7


def test_precedence_file_env_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[s]\nname = "file"\ncount = 2\non = true\n')
    got = load_config(Sample, toml_path=f, section="s", env={"FLYMQ_COUNT": "3"},
                      overrides={"name": "flag", "on": None})
    assert (got.name, got.count, got.on) == ("flag", 3, True)


def test_unknown_key_names_key_and_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("colour = 'red'\n")
    with pytest.raises(ConfigError, match=r"'colour'.*c\.toml"):
        load_config(Sample, toml_path=f, env={})
    with pytest.raises(ConfigError, match="'bogus'"):
        load_config(Sample, env={}, overrides={"bogus": 1})


@pytest.mark.parametrize("env, text", [
    ({"FLYMQ_COUNT": "many"}, "FLYMQ_COUNT"),
    ({"FLYMQ_ON": "maybe"}, "true/false"),
    ({"FLYMQ_COLOR": "green"}, "red|blue"),
])
def test_bad_values_say_where(env, text):
    with pytest.raises(ConfigError, match=text):
        load_config(Sample, env=env)


def test_wrong_toml_type(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("count = 'ten'\nname = 3\n")
    with pytest.raises(ConfigError, match="count"):
        load_config(Sample, toml_path=f, env={})


def test_invalid_toml(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("count = = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(Sample, toml_path=f, env={})


def test_serve_configs_and_default_data_dir(tmp_path):
    f = tmp_path / "flymq.toml"
    f.write_text('[server]\nport = 1234\n[broker]\nfsync = "never"\n')
    cfg = load_serve_configs(str(f), {"FLYMQ_FSYNC": "always", "FLYMQ_HOST": "0.0.0.0"},
                             {"port": "4321", "config": str(f)})
    assert (cfg["server"].host, cfg["server"].port) == ("0.0.0.0", 4321)
    assert cfg["broker"].fsync == "always"
    assert cfg["broker"].data_dir.endswith("data") and "flymq" in cfg["broker"].data_dir


def test_serve_rejects_unknown_table_and_bad_choice(tmp_path):
    f = tmp_path / "flymq.toml"
    f.write_text("[brokers]\nfsync = 'never'\n")
    with pytest.raises(ConfigError, match=r"'brokers'.*flymq\.toml"):
        load_serve_configs(str(f), {}, {})
    with pytest.raises(ConfigError, match="fsync"):
        load_serve_configs(None, {"FLYMQ_FSYNC": "sometimes"}, {})


def test_every_serve_flag_is_described_from_the_config_dataclasses():
    from flymq.broker.config import BrokerConfig
    from flymq.server import ServerConfig
    from flymq.config import field_docs

    for cls in (BrokerConfig, ServerConfig):
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, f"{cls.__name__} fields without a docstring: {missing}"
    assert "fsyncs every fsync_interval_ms" in field_docs(BrokerConfig)["fsync"]


def test_serve_help_shows_field_docstrings_and_defaults(capsys):
    from flymq.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "TCP port; 0 picks a free one (tests, embedded use). (default: 9092)" in out
    assert '"interval": a flusher thread fsyncs every fsync_interval_ms' in out
    assert "Directory holding all topics and group offsets. (default: " in out
