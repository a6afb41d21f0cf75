"""``flymq inspect``: offline reading, CRC checks, and cutting a corrupt tail."""

from __future__ import annotations

from pathlib import Path

from flymq.broker import Broker, BrokerConfig
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
    assert "offset 10 on" in cut.err
    assert flymq("inspect", str(data), "--verify").code == 0
    with Broker(data) as broker:
        assert broker.offsets("t", 1) == (0, 10)
        assert broker.fetch("t", 1, 0, 100).messages[-1].value == b"value-019"
        assert broker.offsets("t", 0) == (0, 15)
        broker.produce("t", b"after", partition=1)
        assert broker.fetch("t", 1, 10, 10).messages[0].value == b"after"


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
