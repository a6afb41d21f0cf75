"""What goes wrong before a command starts: no server, a locked or wrong data directory,
bad usage. Always one line on stderr and a non-zero exit."""

from __future__ import annotations

import time

from flymq.testing import serve_env

from .conftest import flymq


def test_no_server_running_answers_at_once_and_says_how_to_start_one(tmp_path):
    from flymq.testing.proxy import FaultyProxy  # noqa: F401 - only to find a free port
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    run = flymq("topics", "list", "--server", f"127.0.0.1:{port}")
    assert run.code == 1
    assert f"cannot reach a flymq server at 127.0.0.1:{port}" in run.err
    assert "flymq serve" in run.err
    assert time.monotonic() - started < 5  # the interpreter start is most of it


def test_server_from_the_environment(serve):
    env = serve_env(FLYMQ_SERVER=serve.bootstrap)
    assert flymq("produce", "t", "v", env=env).code == 0
    assert flymq("consume", "t", env=env).out == "v\n"


def test_data_dir_held_by_a_server(serve):
    run = flymq("topics", "list", "--data-dir", serve.match["data"])
    assert run.code == 1
    assert "in use by a running broker" in run.err and "--server" in run.err


def test_data_dir_problems(tmp_path):
    absent = flymq("topics", "list", "--data-dir", str(tmp_path / "absent"))
    assert absent.code == 1 and "no flymq data directory" in absent.err
    (tmp_path / "file").write_text("x")
    assert flymq("topics", "list", "--data-dir", str(tmp_path / "file")).code == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "photo.jpg").write_text("x")
    other = flymq("topics", "list", "--data-dir", str(tmp_path / "other"))
    assert other.code == 1 and "not a flymq data directory" in other.err
    both = flymq("topics", "list", "--data-dir", str(tmp_path), "--server", "h:1")
    assert both.code == 2


def test_usage_errors_are_one_line():
    for args in (["topicz"], ["consume"], ["produce", "t", "v", "--partition", "x"],
                 ["serve", "--log-level", "LOUD"], ["serve", "--port", "many"]):
        run = flymq(*args)
        assert run.code == 2, (args, run)
        assert len(run.err.strip().splitlines()) == 1, (args, run)
    loud = flymq("serve", "--log-level", "LOUD")
    assert "invalid choice: 'LOUD'" in loud.err
    flag = flymq("serve", "--auto-create-topics", "maybe", "--port", "0")
    assert flag.code == 2 and "expected true/false" in flag.err


def test_help_has_examples_everywhere():
    for args in (["topics", "create"], ["topics", "list"], ["produce"], ["consume"],
                 ["groups", "reset"], ["inspect"], ["serve"]):
        run = flymq(*args, "--help")
        assert run.code == 0 and "examples:" in run.out, args
    serve_help = flymq("serve", "--help").out
    assert "--auto-create-topics true|false" in serve_help
    assert "VALUE" not in serve_help
    assert flymq().code == 2
    assert flymq("--version").out.startswith("flymq ")
