"""``flymq inspect``: offline reading, CRC checks, and cutting a corrupt tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from flymq.broker import Broker, BrokerConfig
from flymq.errors import CorruptRecordError, OffsetOutOfRangeError, SchemaNotFoundError
from flymq.broker.topic_dirs import topic_dirname

from .conftest import flymq


def _fill(data: Path, count: int = 30) -> None:
    with Broker(data, BrokerConfig(segment_bytes=1024 * 1024)) as broker:
        broker.create_topic("t", 2)
        for i in range(count):
            broker.produce("t", b"value-%03d" % i, partition=i % 2)


def _segment(data: Path, partition: int) -> Path:
    return next((data / "topics" / topic_dirname("t") / str(partition)).glob("*.log"))


def test_a_sound_directory(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    run = flymq("inspect", str(data), "--verify", "--json")
    assert run.code == 0, run
    logs = {(entry["log"], entry["partition"]): entry for entry in run.json()["logs"]}
    assert logs[("t", 0)]["records"] == 15 and logs[("t", 1)]["end_offset"] == 15
    assert logs[("t", 0)]["status"] == "ok"
    assert logs[("t", 0)]["segment_files"][0]["batches"] == 15
    table = flymq("inspect", str(data), "--segments")
    assert table.code == 0 and "(CRCs not checked: add --verify)" in table.out


def test_corruption_is_found_and_cut_after_confirmation(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    segment = _segment(data, 1)
    raw = bytearray(segment.read_bytes())
    batch = len(raw) // 15
    raw[batch * 10 + 40] ^= 0xFF  # a byte inside the 11th batch's CRC-covered header
    segment.write_bytes(bytes(raw))

    unverified = flymq("inspect", str(data))
    assert unverified.code == 0  # lengths and offsets are fine: only a CRC shows it
    found = flymq("inspect", str(data), "--verify")
    assert found.code == 1 and "BAD" in found.out and "CRC mismatch" in found.out
    assert flymq("inspect", str(data), "--repair").code == 2  # acts on what --verify finds
    asked = flymq("inspect", str(data), "--verify", "--repair", input="")
    assert asked.code == 1 and "pass --yes" in asked.err
    assert segment.stat().st_size == len(raw)  # nothing cut without a yes
    cut = flymq("inspect", str(data), "--verify", "--repair", "--yes")
    assert cut.code == 0 and "repaired 1 log" in cut.out
    assert "t partition 1: 00000000000000000000.log: drop offsets 10-10 (1 records" in cut.err
    assert flymq("inspect", str(data), "--verify").code == 0
    with Broker(data) as broker:  # offset 10 is a filler now: the records after it stay
        assert broker.offsets("t", 1) == (0, 15)
        assert [m.value for m in broker.fetch("t", 1, 0, 100).messages] == \
            [b"value-%03d" % i for i in range(1, 30, 2) if i != 21]
        with pytest.raises(OffsetOutOfRangeError):
            broker.consume("t", 1, 10)
        assert broker.offsets("t", 0) == (0, 15)
        broker.produce("t", b"after", partition=1)
        assert broker.fetch("t", 1, 15, 10).messages[0].value == b"after"


def test_a_damaged_tail_is_cut(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    segment = _segment(data, 0)
    raw = segment.read_bytes()
    segment.write_bytes(raw[:-30] + b"\xff" * 30)       # the last batch's value is damaged
    found = flymq("inspect", str(data), "--verify", "--json")
    assert found.code == 1
    cut = flymq("inspect", str(data), "--verify", "--repair", "--yes")
    assert cut.code == 0 and "t partition 0: 00000000000000000000.log: cut the tail at byte" in cut.err
    assert "(offset 14 on;" in cut.err
    with Broker(data) as broker:
        assert broker.offsets("t", 0) == (0, 14)


def test_zero_padding_after_a_sealed_segment_is_a_note_not_damage(tmp_path):
    data = tmp_path / "data"
    with Broker(data, BrokerConfig(segment_bytes=1024)) as broker:
        broker.create_topic("t", 1)
        for i in range(60):
            broker.produce("t", b"value-%03d" % i)
    first = sorted((data / "topics" / topic_dirname("t") / "0").glob("*.log"))[0]
    with open(first, "ab") as f:
        f.write(b"\0" * 100)
    run = flymq("inspect", str(data), "--verify")
    assert run.code == 0, run
    assert "100 zero bytes after the last batch (no records; never read)" in run.out


def test_a_state_log_damaged_before_sound_records_is_repaired(tmp_path):
    data = tmp_path / "data"
    with Broker(data) as broker:
        for name in ("a", "b", "c"):
            broker.register_schema(name, "json", b'{"type": "object"}')
    [segment] = (data / "schemas" / "subjects").glob("*.log")
    raw = bytearray(segment.read_bytes())
    raw[60] ^= 0x08                                   # the first of three registrations
    segment.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordError), Broker(data) as broker:  # refused: sound ones follow
        broker.get_schema("b")
    repair = flymq("inspect", str(data), "--verify", "--repair", "--yes")
    assert repair.code == 0, repair
    assert "schemas/subjects: 00000000000000000000.log: drop offsets 0-0 (1 records" in repair.err
    with Broker(data) as broker:                     # the operator dropped schema a
        with pytest.raises(SchemaNotFoundError):
            broker.get_schema("a")
        assert broker.get_schema("b")["version"] == 1
        assert broker.get_schema("c")["version"] == 1


def test_errors(tmp_path, serve):
    assert flymq("inspect", str(tmp_path / "absent")).code == 1
    (tmp_path / "plain").mkdir()
    assert flymq("inspect", str(tmp_path / "plain")).code == 1
    held = serve.match["data"]
    flymq("produce", "t", "v", "--server", serve.bootstrap)
    look = flymq("inspect", held)
    assert look.code == 0 and "in use by a running broker" in look.err
    repair = flymq("inspect", held, "--verify", "--repair", "--yes")
    assert repair.code == 1 and "stop it before --repair" in repair.err
