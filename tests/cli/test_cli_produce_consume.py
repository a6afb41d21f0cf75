"""``flymq produce`` and ``flymq consume`` on both targets."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from flymq.testing import PACKAGE_ROOT, serve_env

from .conftest import flymq


def _records(run) -> list[dict]:
    return [json.loads(line) for line in run.lines()]


def test_one_message_with_key_header_and_partition(cli):
    cli("topics", "create", "t", "-p", "2")
    sent = cli("produce", "t", "hello", "--key", "k1", "--header", "a=b", "-H", "c=", "-p", "1")
    assert sent.code == 0 and "partition 1, offset 0" in sent.out
    got = _records(cli("consume", "t", "--format", "json"))
    assert got == [{"topic": "t", "partition": 1, "offset": 0, "timestamp": got[0]["timestamp"],
                    "key": "k1", "headers": {"a": "b", "c": ""}, "value": "hello"}]
    raw = cli("consume", "t", "--show-offset", "--show-key", "--show-headers")
    assert raw.out == "t/1@0\tk1\ta=b,c=\thello\n"


def test_lines_from_stdin_and_file(cli, tmp_path):
    assert cli("produce", "t", input="a\nb\r\nc").out.strip() == "produced 3 messages to t"
    keyed = cli("produce", "t", "--key-separator", ":", input="k1:v1\nk2:v:2\n")
    assert keyed.code == 0
    path = tmp_path / "msgs.txt"
    path.write_bytes(b"f1\nf2\n")
    assert cli("produce", "t", "--file", str(path)).code == 0
    path.write_bytes(b"\x00binary\nwith newline")
    assert cli("produce", "t", "--file", str(path), "--whole").code == 0
    got = _records(cli("consume", "t", "--json"))
    assert [(r["key"], r["value"]) for r in got] == [
        (None, "a"), (None, "b"), (None, "c"), ("k1", "v1"), ("k2", "v:2"), (None, "f1"),
        (None, "f2"), (None, "\x00binary\nwith newline")]


def test_count_and_max(cli):
    sent = cli("produce", "t", "m{i}", "--count", "2500", "--json").json()
    assert sent["messages"] == 2500 and sent["last"] == {"partition": 0, "offset": 2499}
    values = cli("consume", "t").lines()
    assert values == [f"m{i}" for i in range(2500)]
    assert cli("consume", "t", "--max", "3").lines() == ["m0", "m1", "m2"]


def test_from(cli):
    cli("produce", "t", "m{i}", "--count", "5")
    assert cli("consume", "t", "--from", "latest").out == ""
    assert cli("consume", "t", "--from", "-2").lines() == ["m3", "m4"]
    assert cli("consume", "t", "--from", "3").lines() == ["m3", "m4"]
    assert cli("consume", "t", "--from", "99").lines() == []
    first = _records(cli("consume", "t", "--max", "1", "--json"))[0]
    assert cli("consume", "t", "--from", f"@{first['timestamp']}").lines()[0] == "m0"
    assert cli("consume", "t", "--from", "2000-01-01T00:00:00").lines()[0] == "m0"
    assert cli("consume", "t", "--from", "3000-01-01T00:00:00").lines() == []
    assert cli("consume", "t", "--from", "yesterday").code == 2
    assert cli("consume", "t", "--from", "@soon").code == 2


def test_patterns_and_partitions(cli):
    cli("topics", "create", "sensors/kitchen", "-p", "2")
    cli("produce", "sensors/kitchen", "k", "-p", "1")
    cli("produce", "sensors/hall", "h")
    cli("produce", "other", "o")
    got = sorted(cli("consume", "sensors/+").lines())
    assert got == ["h", "k"]
    assert cli("consume", "sensors/kitchen", "-p", "1").lines() == ["k"]
    assert cli("consume", "sensors/kitchen", "-p", "0").lines() == []
    bad = cli("consume", "sensors/kitchen", "-p", "5")
    assert bad.code == 1 and "partitions 0..1" in bad.err
    none = cli("consume", "nothing/#")
    assert none.code == 1 and "no topic matches nothing/#" in none.err


def test_group_commits_what_it_printed(cli):
    cli("produce", "t", "m{i}", "--count", "5")
    assert cli("consume", "t", "--group", "g", "--max", "2").lines() == ["m0", "m1"]
    assert cli("consume", "t", "--group", "g").lines() == ["m2", "m3", "m4"]
    assert cli("consume", "t", "--group", "g").lines() == []
    assert cli("consume", "t", "--group", "g", "--from", "earliest").lines()[0] == "m0"


def test_errors(cli, tmp_path):
    missing = cli("consume", "nope")
    assert missing.code == 1 and "no topic nope" in missing.err and "--follow" in missing.err
    assert cli("produce", "t", "v", "--file", "x").code == 2
    assert cli("produce", "t", "--count", "3", input="").code == 2
    assert cli("produce", "t", "v", "--header", "novalue").code == 2
    assert cli("produce", "t", "--whole", "--key-separator", ":", input="").code == 2
    assert cli("produce", "t", "-p", "-1", "v").code == 2
    unreadable = cli("produce", "t", "--file", str(tmp_path / "absent"))
    assert unreadable.code == 1 and "cannot read" in unreadable.err
    separator = cli("produce", "t", "--key-separator", ":", input="no separator here\n")
    assert separator.code == 1 and "key separator" in separator.err
    invalid = cli("produce", "bad+name", "v")
    assert invalid.code == 1 and "invalid topic name" in invalid.err
    beyond = cli("produce", "t2", "v", "-p", "7")
    assert beyond.code == 1 and "partition 7" in beyond.err


def test_strict_server_refuses_unknown_topics(tmp_path):
    from flymq.testing import ServeProcess

    with ServeProcess("--port", "0", "--data-dir", str(tmp_path / "d"),
                      "--auto-create-topics", "false") as server:
        run = flymq("produce", "t", "v", "--server", server.bootstrap)
        assert run.code == 1 and "topic not found" in run.err.lower()


def test_follow_waits_for_the_topic_and_new_messages(serve):
    follower = subprocess.Popen(
        [sys.executable, "-m", "flymq", "consume", "later", "--follow", "--max", "2",
         "--server", serve.bootstrap], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=serve_env(), cwd=PACKAGE_ROOT)
    try:
        time.sleep(1.0)  # it is waiting for the topic now
        assert follower.poll() is None
        assert flymq("produce", "later", "one", "--server", serve.bootstrap).code == 0
        assert flymq("produce", "later", "two", "--server", serve.bootstrap).code == 0
        out, err = follower.communicate(timeout=20)
    finally:
        follower.kill()
        follower.wait()
    assert follower.returncode == 0, err
    assert out.splitlines() == ["one", "two"]
    assert "waiting for it" in err


def test_a_closed_pipe_ends_quietly(serve):
    flymq("produce", "t", "m{i}", "--count", "20000", "--server", serve.bootstrap)
    shell = subprocess.run(
        f"{sys.executable} -m flymq consume t --server {serve.bootstrap} | head -1",
        shell=True, capture_output=True, text=True, env=serve_env(), cwd=PACKAGE_ROOT,
        timeout=30)
    assert shell.stdout == "m0\n"
    assert shell.stderr == ""


def test_ctrl_c_ends_a_follow_with_130_and_no_traceback(serve):
    import signal

    flymq("produce", "t", "one", "--server", serve.bootstrap)
    follower = subprocess.Popen(
        [sys.executable, "-m", "flymq", "consume", "t", "--follow", "--server",
         serve.bootstrap], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=serve_env(), cwd=PACKAGE_ROOT)
    try:
        assert follower.stdout.readline() == "one\n"  # it is following now
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=20)
    finally:
        follower.kill()
        follower.wait()
    assert follower.returncode == 130
    assert "Traceback" not in err
