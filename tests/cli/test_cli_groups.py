"""``flymq groups`` on both targets."""

from __future__ import annotations


def test_list_describe_reset_delete(cli):
    assert cli("groups", "list").out.strip() == "(no consumer groups)"
    cli("topics", "create", "t", "-p", "2")
    cli("produce", "t", "m{i}", "--count", "6")
    cli("consume", "t", "--group", "g", "--max", "2")
    listed = cli("groups", "list", "--json").json()
    assert [(g["group_id"], g["topic"]) for g in listed] == [("g", "t")]
    assert cli("groups", "list").lines()[1].split()[:2] == ["g", "t"]
    rows = cli("groups", "describe", "g", "--json").json()[0]["partitions"]
    # as a member it committed the position of every partition it was assigned
    assert [(r["partition"], r["committed"], r["end_offset"], r["lag"]) for r in rows] == \
        [(0, 2, 3, 1), (1, 0, 3, 3)]

    plan = cli("groups", "reset", "g", "--topic", "t", "--to", "latest", "--json").json()
    assert plan["executed"] is False
    assert [(p["partition"], p["new_offset"]) for p in plan["partitions"]] == [(0, 3), (1, 3)]
    dry = cli("groups", "reset", "g", "--topic", "t", "--to", "earliest")
    assert "dry run" in dry.out
    rows = cli("groups", "describe", "g", "--json").json()[0]["partitions"]
    assert rows[0]["committed"] == 2  # unchanged by a dry run
    done = cli("groups", "reset", "g", "-t", "t", "--to", "1", "-p", "1", "--execute")
    assert done.code == 0
    rows = cli("groups", "describe", "g", "--topic", "t", "--json").json()[0]["partitions"]
    assert {r["partition"]: r["committed"] for r in rows} == {0: 2, 1: 1}
    assert cli("consume", "t", "--group", "g", "-p", "1").lines() == ["m3", "m5"]

    assert cli("groups", "delete", "g", "--topic", "t").code == 0
    assert cli("groups", "list", "--json").json() == []


def test_errors(cli):
    cli("produce", "t", "m{i}", "--count", "3")
    missing = cli("groups", "describe", "nobody")
    assert missing.code == 1 and "no consumer group nobody" in missing.err
    assert cli("groups", "reset", "g", "--topic", "nope", "--to", "earliest").code == 1
    assert cli("groups", "reset", "g", "--topic", "t", "--to", "sometime").code == 2
    beyond = cli("groups", "reset", "g", "--topic", "t", "--to", "9")
    assert beyond.code == 1 and "holds offsets 0..3" in beyond.err
    assert cli("groups", "reset", "g", "--topic", "t", "--to", "0", "-p", "4").code == 1
    assert cli("groups", "reset", "g", "--to", "0").code == 2  # --topic is required
    gone = cli("groups", "delete", "nobody", "--topic", "t")
    assert gone.code == 1 and "consumer group not found" in gone.err
