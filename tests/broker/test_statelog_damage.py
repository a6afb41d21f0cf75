"""Internal state logs with damaged bytes: a damaged tail is cut and reported and the broker
starts with every change before it; damage with sound records after it is refused until the
operator repairs, except in the offsets log, whose commits are upserts (issue 16 point 3)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flymq import FlyMQClient
from flymq.broker import Broker
from flymq.errors import CorruptRecordError, SchemaNotFoundError
from flymq.testing import ServeProcess

SCHEMA = b'{"type": "object"}'


def _fill(data: Path) -> None:
    """Group g commits 5 then 7, group h commits 3; schema s1, then s2 (the last record)."""
    with Broker(data) as broker:
        broker.create_topic("t", 1)
        for i in range(10):
            broker.produce("t", b"v%d" % i)
        broker.commit_offset("t", "g", 0, 5)
        broker.commit_offset("t", "h", 0, 3)
        broker.commit_offset("t", "g", 0, 7)
        broker.register_schema("s1", "json", SCHEMA)
        broker.register_schema("s2", "json", SCHEMA)


def _flip(data: Path, log_dir: str, from_end: int) -> Path:
    """Flip one bit ``from_end`` bytes before the end of the log in ``log_dir``."""
    [segment] = sorted((data / log_dir).glob("*.log"))
    raw = bytearray(segment.read_bytes())
    raw[-from_end] ^= 0x08
    segment.write_bytes(bytes(raw))
    return segment


def _assert_recovered(broker) -> None:
    assert broker.get_committed_offset("t", "h", 0) == 3
    assert broker.get_committed_offset("t", "g", 0) == 5    # its last commit was damaged
    assert broker.get_schema("s1")["version"] == 1
    with pytest.raises(SchemaNotFoundError):
        broker.get_schema("s2")


def test_a_damaged_tail_is_cut_reported_and_the_rest_survives(tmp_path, caplog):
    data = tmp_path / "data"
    _fill(data)
    offsets = _flip(data, "groups/offsets", 3)
    schemas = _flip(data, "schemas/subjects", 3)
    with caplog.at_level(logging.WARNING, logger="flymq.broker.statelog"):
        with Broker(data) as broker:
            _assert_recovered(broker)
            broker.commit_offset("t", "g", 0, 9)        # the cut log takes new changes
            broker.register_schema("s2", "json", SCHEMA)
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert f"__consumer_offsets/0: damaged tail dropped, its changes are lost: offsets 2-2" \
        in warnings and str(offsets) in warnings
    assert f"__schemas/0: damaged tail dropped" in warnings and str(schemas) in warnings
    with Broker(data) as broker:
        assert broker.get_committed_offset("t", "g", 0) == 9
        assert broker.get_schema("s2")["version"] == 1


def test_flymq_serve_starts_on_a_damaged_offsets_log(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    offsets = _flip(data, "groups/offsets", 3)
    _flip(data, "schemas/subjects", 3)
    with ServeProcess("--port", "0", "--data-dir", str(data)) as serve:
        with FlyMQClient(serve.bootstrap) as client:
            _assert_recovered(client)
        assert serve.terminate() == 0
        err = serve.proc.stderr.read()
    assert "damaged tail dropped" in err and str(offsets) in err and "offsets 2-2" in err


def _flip_first_record(data: Path, log_dir: str) -> None:
    [segment] = sorted((data / log_dir).glob("*.log"))
    raw = bytearray(segment.read_bytes())
    raw[60] ^= 0x08                                   # inside the first batch
    segment.write_bytes(bytes(raw))


def test_damage_followed_by_sound_records_is_refused(tmp_path):
    data = tmp_path / "data"
    _fill(data)
    _flip_first_record(data, "schemas/subjects")      # s1's registration; s2's follows
    with pytest.raises(CorruptRecordError) as caught, Broker(data) as broker:
        broker.get_schema("s2")
    assert caught.value.first_offset == 0 and caught.value.end_offset == 1
    assert "flymq inspect DATA_DIR --verify --repair" in str(caught.value)
    # (tests/cli/test_cli_inspect.py repairs such a directory)


def test_offsets_log_skips_damage_that_sound_commits_follow(tmp_path, caplog):
    """A commit is an upsert: losing one in the middle costs what losing the tail does."""
    data = tmp_path / "data"
    _fill(data)
    _flip_first_record(data, "groups/offsets")        # g's commit of 5; h's 3, g's 7 follow
    with caplog.at_level(logging.WARNING, logger="flymq.broker.statelog"):
        with Broker(data) as broker:
            assert broker.get_committed_offset("t", "g", 0) == 7
            assert broker.get_committed_offset("t", "h", 0) == 3
            broker.commit_offset("t", "h", 0, 4)
    assert "__consumer_offsets/0: damaged changes skipped, they are lost (later changes of " \
           "their keys stand): offsets 0-0" in caplog.text
    with Broker(data) as broker:
        assert broker.get_committed_offset("t", "h", 0) == 4
