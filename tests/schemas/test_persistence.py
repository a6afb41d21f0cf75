"""Subjects survive restarts and kill -9: versions, deletions, modes and bindings, with the
same numbers and ids; the log is compacted without losing any of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.broker.schemas.registry import SchemaRegistry
from flymq.broker.storage import FsyncPolicy, LogConfig
from flymq.broker.topics import TopicConfig
from flymq.clock import SYSTEM_CLOCK
from flymq.errors import SchemaValidationError

ROOT = Path(__file__).resolve().parents[2]


def schema(n: int) -> bytes:
    """Version n of a subject: each adds an optional property (backward compatible)."""
    return json.dumps({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "integer"}, **{f"p{i}": {"type": "string"} for i in range(n)}}}).encode()


def test_restart_keeps_versions_ids_deletions_modes_and_bindings(flymq_broker, flymq_data_dir,
                                                                 flymq_broker_config):
    b = flymq_broker
    for n in range(4):
        b.register_schema("s", "json", schema(n))
    b.delete_schema("s", 4)
    b.delete_schema("s", 2)
    b.register_schema("gone", "json", schema(0))
    b.delete_schema("gone", 0)
    b.set_schema_compatibility("none", "s")
    b.set_schema_compatibility("full")
    b.create_topic("bound", config=TopicConfig(schema="s"))
    before = b.list_schemas(), [b.describe_schema("s", v) for v in (1, 3)]
    b.close()
    with Broker(flymq_data_dir, flymq_broker_config) as again:
        assert (again.list_schemas(), [again.describe_schema("s", v) for v in (1, 3)]) == before
        assert again.get_schema_compatibility("s") == "none"
        assert again.get_schema_compatibility("other") == "full"
        assert again.register_schema("s", "json", schema(9)) == 5     # 4 is never reused
        assert again.register_schema("gone", "json", schema(0)) == 2
        with pytest.raises(SchemaValidationError):
            again.produce("bound", b'{"p0": "no id"}')
        again.produce("bound", b'{"id": 1}')


def _registry(directory: Path) -> SchemaRegistry:
    return SchemaRegistry(directory, LogConfig(fsync=FsyncPolicy.NEVER), clock=SYSTEM_CLOCK,
                          flusher=None, max_schema_bytes=1 << 20, compact_min_records=20)


def test_compaction_keeps_the_state(tmp_path):
    registry = _registry(tmp_path)
    try:
        for round_ in range(30):
            registry.register("churn", "json", schema(round_))
            if round_ % 2:
                registry.delete("churn", 0)
        registry.set_compatibility("forward", "churn")
        listed = registry.list()
    finally:
        registry.close()
    registry = _registry(tmp_path)
    try:
        assert registry.list() == listed
        assert registry.compatibility("churn") == "forward"
        assert registry.register("churn", "json", schema(99)).version == 31
    finally:
        registry.close()


REGISTRAR = """
    import json, sys
    from flymq.broker import Broker, BrokerConfig
    b = Broker(sys.argv[1], BrokerConfig(fsync=sys.argv[2]))
    n = 0
    while True:
        n += 1
        definition = json.dumps({"type": "object", "properties": {
            f"p{i}": {"type": "string"} for i in range(n)}}).encode()
        version = b.register_schema("s%d" % (n % 3), "json", definition)
        if n % 5 == 0:
            b.delete_schema("s%d" % (n % 3), version)
            print("deleted", n % 3, version, flush=True)
        else:
            print("registered", n % 3, version, flush=True)
"""


@pytest.mark.parametrize("fsync", ["always", "interval"])
def test_kill_9_loses_no_acknowledged_registration(tmp_path, fsync):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(REGISTRAR),
                              str(tmp_path), fsync], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in child.stdout:
            lines.append(line.split())
            if len(lines) >= 60:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert len(lines) >= 60
    with Broker(tmp_path, BrokerConfig(fsync="never")) as b:
        live = {(s["name"], s["version"]) for s in b.list_schemas()}
        for action, subject, version in lines:
            key = (f"s{subject}", int(version))
            # under "interval" an unflushed tail may be lost by a power cut, never by kill -9
            assert (key in live) == (action == "registered"), (action, key)
        # numbering goes on after the last acknowledged version of each subject
        last = {}
        for _, subject, version in lines:
            last[f"s{subject}"] = int(version)
        for name, version in last.items():
            assert b.register_schema(name, "json", b'{"title": "after the crash"}') > version


def test_validators_are_compiled_once_per_version(tmp_path, monkeypatch):
    import flymq.broker.schemas.registry as registry_module

    compiled = []
    real = registry_module.compile_schema
    monkeypatch.setattr(registry_module, "compile_schema",
                        lambda kind, d: compiled.append(d) or real(kind, d))
    registry = _registry(tmp_path)
    try:
        registry.register("s", "json", schema(0))
        registry.register("s", "json", schema(1))
        for _ in range(100):
            registry.validate("s", b'{"id": 1}')
            registry.validate("s", b'{"id": 1}', version=1)
            registry.validate_all("s", [b'{"id": 1}'] * 10)
        assert len(compiled) == 2
    finally:
        registry.close()
    registry = _registry(tmp_path)   # after a restart: compiled on first use, then cached
    try:
        for _ in range(100):
            registry.validate("s", b'{"id": 1}')
        assert len(compiled) == 3
    finally:
        registry.close()
