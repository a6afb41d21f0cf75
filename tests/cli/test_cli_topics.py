"""``flymq topics`` on both targets, every error path included."""

from __future__ import annotations

from flymq.testing import ServeProcess
from tcp_client.fake_server import FakeServer, upstream_topics

from .conftest import flymq


def test_create_list_describe_delete(cli):
    assert cli("topics", "list").out.strip() == "(no topics)"
    made = cli("topics", "create", "orders", "--partitions", "3")
    assert made.code == 0 and "created: orders (3 partitions)" in made.out
    cli("produce", "orders", "x", "--partition", "2")
    listed = cli("topics", "list", "--json").json()
    assert listed == [{"name": "orders", "partitions": 3, "messages": 1}]
    table = cli("topics", "list").lines()
    assert table[0].split() == ["NAME", "PARTITIONS", "MESSAGES"]
    assert table[1].split() == ["orders", "3", "1"]
    described = cli("topics", "describe", "orders", "--json").json()
    assert [(p["partition"], p["start_offset"], p["end_offset"]) for p in described["partitions"]] \
        == [(0, 0, 0), (1, 0, 0), (2, 0, 1)]
    text = cli("topics", "describe", "orders")
    assert text.code == 0 and "orders: 3 partitions" in text.out
    gone = cli("topics", "delete", "orders")
    assert gone.code == 0 and "deleted: orders" in gone.out
    assert cli("topics", "list", "--json").json() == []


def test_describe_shows_sizes_and_config_on_both_targets(cli):
    made = cli("topics", "create", "logs", "-p", "2", "--config", "retention_ms=60000",
               "-c", "compression=lz4")
    assert made.code == 0, made
    assert cli("topics", "describe", "logs", "--json").json()["partitions"][0][
        "size_bytes"] == 0
    cli("produce", "logs", "a line", "--partition", "1")
    described = cli("topics", "describe", "logs", "--json").json()
    assert described["config"] == {"retention_ms": 60000, "compression": "lz4"}
    assert [(p["messages"], p["size_bytes"] > 0) for p in described["partitions"]] == \
        [(0, False), (1, True)]
    table = cli("topics", "describe", "logs")
    assert "config: compression=lz4, retention_ms=60000" in table.out
    rows = [line.split() for line in table.lines()[1:]]
    assert rows[0] == ["PARTITION", "START_OFFSET", "END_OFFSET", "MESSAGES", "SIZE_BYTES"]
    assert rows[2][:4] == ["1", "0", "1", "1"]
    assert rows[2][4] == str(described["partitions"][1]["size_bytes"])


def test_server_and_data_dir_describe_the_same(tmp_path):
    data = tmp_path / "data"
    with ServeProcess("--port", "0", "--data-dir", str(data), "--fsync", "never") as served:
        server = ["--server", served.bootstrap]
        flymq("topics", "create", "t", "-p", "2", "-c", "segment_bytes=1048576", *server)
        flymq("produce", "t", "x", "--count", "50", *server)
        over_tcp = flymq("topics", "describe", "t", "--json", *server)
    offline = flymq("topics", "describe", "t", "--json", "--data-dir", str(data))
    assert over_tcp.code == offline.code == 0, (over_tcp, offline)
    assert over_tcp.json() == offline.json()
    assert sum(p["size_bytes"] for p in offline.json()["partitions"]) > 50


def test_describe_of_a_missing_topic_is_one_line(cli):
    missing = cli("topics", "describe", "nope", "--json")
    assert missing.code == 1 and missing.out == ""
    assert missing.err.strip().splitlines() == [missing.err.strip()]
    assert "no topic nope" in missing.err


def test_describe_against_an_upstream_server_shows_offsets_only():
    upstream = FakeServer(upstream_topics({"orders": [(0, 2)]}), flymq=False)
    try:
        run = flymq("topics", "describe", "orders", "--server", upstream.address)
    finally:
        upstream.close()
    assert run.code == 0, run
    assert "config: (not available over TCP; use --data-dir)" in run.out
    assert run.lines()[-1].split() == ["0", "0", "2", "2", "-"]


def test_existing_topic(cli):
    cli("topics", "create", "t", "-p", "2")
    again = cli("topics", "create", "t", "-p", "2")
    assert again.code == 1 and "already exists (2 partitions)" in again.err
    same = cli("topics", "create", "t", "-p", "2", "--if-not-exists")
    assert same.code == 0 and "exists: t" in same.out
    other = cli("topics", "create", "t", "-p", "5", "--if-not-exists")
    assert other.code == 1 and "exists with 2 partitions, not 5" in other.err


def test_errors(cli):
    assert cli("topics", "delete", "nope").code == 1
    assert cli("topics", "delete", "nope", "--if-exists").code == 0
    missing = cli("topics", "describe", "nope")
    assert missing.code == 1 and "no topic nope" in missing.err
    for bad in (["-p", "0"], ["--config", "retention_ms"], ["--config", "colour=red"],
                ["--config", "retention_ms=soon"]):
        run = cli("topics", "create", "t", *bad)
        assert run.code == 2, (bad, run)
    invalid = cli("topics", "create", "a/../b")
    assert invalid.code == 1 and "invalid topic name" in invalid.err
    assert cli("topics").code == 2  # an action is required
