"""``flymq serve`` as a real subprocess: readiness, configuration, SIGTERM and SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from flymq import protocol as p
from flymq.protocol import Op
from flymq.testing import PACKAGE_ROOT, ServeProcess, serve_env
from srvutil import RawClient, decode_reply, frame


@pytest.fixture
def serve(tmp_path):
    procs: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        proc = ServeProcess("--port", "0", *args, env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.close()


def _flymq(*args: str) -> subprocess.CompletedProcess:
    """``python -m flymq ARGS...`` run to its end."""
    return subprocess.run([sys.executable, "-m", "flymq", *args], capture_output=True,
                          text=True, env=serve_env(), cwd=PACKAGE_ROOT, timeout=10)


def test_version():
    out = _flymq("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("flymq ") and len(out.stdout.split()) == 2


def test_readiness_line_and_serving(serve, tmp_path):
    proc = serve("--data-dir", str(tmp_path / "d"), "--fsync", "never")
    assert proc.match["data"] == str(tmp_path / "d")
    assert proc.match["fsync"] == "never"
    assert proc.match["host"] == "127.0.0.1"
    with RawClient(proc.address) as c:
        assert c.call(Op.PRODUCE, p.ProduceRequest("t", b"", b"v", -1)).offset == 0


def test_precedence_toml_then_env_then_flags(serve, tmp_path):
    config = tmp_path / "flymq.toml"
    config.write_text('[server]\nnode_id = "from-toml"\nidle_timeout_s = 60\n'
                      '[broker]\nfsync = "never"\ndata_dir = "%s"\n' % (tmp_path / "toml"))
    env = serve_env(FLYMQ_NODE_ID="from-env", FLYMQ_FSYNC="always")
    proc = serve("--config", str(config), "--node-id", "from-flag", env=env)
    assert proc.match["fsync"] == "always"                     # env beats TOML
    assert proc.match["data"] == str(tmp_path / "toml")        # TOML beats the default
    with RawClient(proc.address) as c:
        c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("t", 1))
        meta = c.call(Op.CLUSTER_METADATA, p.ClusterMetadataRequest("t"))
    assert meta.topics[0].partitions[0].leader_id == "from-flag"    # flag beats env
    assert meta.topics[0].partitions[0].leader_addr == "%s:%d" % proc.address


def test_unknown_toml_key_is_a_clear_error(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    out = _flymq("serve", "--config", str(config))
    assert out.returncode == 2
    assert "'prot'" in out.stderr and str(config) in out.stderr


def test_sigterm_finishes_in_flight_requests_and_exits_0(serve, tmp_path):
    data = str(tmp_path / "d")
    proc = serve("--data-dir", data)
    with RawClient(proc.address) as producer, RawClient(proc.address) as poller:
        producer.send(b"".join(frame(Op.PRODUCE, p.ProduceRequest("g", b"", b"%d" % i, -1)
                                     .encode()) for i in range(500)))
        acked = [decode_reply(Op.PRODUCE, producer.recv_frame()).offset for _ in range(500)]
        poller.send(frame(Op.FETCH_EX, p.FetchExRequest("g", 0, 500, 10, 0, 30_000).encode()))
        producer.call(Op.LIST_TOPICS)   # a round trip: the server has read the poll by now
        started = time.monotonic()
        assert proc.terminate() == 0
        assert time.monotonic() - started < 5
        # The long poll was answered at shutdown, then the connection closed.
        assert decode_reply(Op.FETCH_EX, poller.recv_frame()).records == []
        assert poller.read_until_closed() == b""
    assert acked == list(range(500))
    again = serve("--data-dir", data)
    with RawClient(again.address) as c:
        got = c.call(Op.FETCH, p.FetchRequest("g", 0, 0, 1000))
    assert [r.value for r in got.records] == [b"%d" % i for i in range(500)]


def test_sigkill_loses_nothing_acknowledged(serve, tmp_path):
    data = str(tmp_path / "d")
    proc = serve("--data-dir", data, "--fsync", "always")
    with RawClient(proc.address) as c:
        c.call(Op.CREATE_TOPIC, p.CreateTopicRequest("k", 3))
    acked: list[tuple[int, int, bytes]] = []
    enough = threading.Event()

    def produce_forever() -> None:
        window = 16                               # pipelined, so requests are in flight
        with RawClient(proc.address) as c:
            sent = 0
            try:
                while True:
                    while sent - len(acked) < window:
                        c.send(frame(Op.PRODUCE, p.ProduceRequest(
                            "k", b"", b"value-%d" % sent, -1).encode()))
                        sent += 1
                    rm = decode_reply(Op.PRODUCE, c.recv_frame())
                    acked.append((rm.partition, rm.offset, b"value-%d" % len(acked)))
                    if len(acked) >= 300:
                        enough.set()
            except (EOFError, OSError):
                return

    producer = threading.Thread(target=produce_forever)
    producer.start()
    assert enough.wait(20)
    proc.kill()
    producer.join(10)
    assert not producer.is_alive()

    again = serve("--data-dir", data, "--fsync", "always")
    stored: dict[tuple[int, int], bytes] = {}
    with RawClient(again.address) as c:
        for part in range(3):
            offset = 0
            while True:
                got = c.call(Op.FETCH, p.FetchRequest("k", part, offset, 1000))
                if not got.records:
                    break
                stored.update({(part, r.offset): r.value for r in got.records})
                offset = got.next_offset
    missing = [a for a in acked if stored.get((a[0], a[1])) != a[2]]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged messages lost"
    assert len(stored) >= len(acked)


def test_port_in_use_is_reported(serve, tmp_path):
    first = serve("--data-dir", str(tmp_path / "a"))
    out = _flymq("serve", "--port", str(first.address[1]), "--data-dir", str(tmp_path / "b"))
    assert out.returncode == 1
    assert "cannot listen" in out.stderr


def test_data_dir_in_use_is_reported_without_a_traceback(serve, tmp_path):
    serve("--data-dir", str(tmp_path / "d"))
    out = _flymq("serve", "--port", "0", "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 1
    assert "in use by another broker" in out.stderr and "Traceback" not in out.stderr


def test_sigint_stops_cleanly(serve, tmp_path):
    import signal

    proc = serve("--data-dir", str(tmp_path / "d"))
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(10) == 0
    assert proc.proc.stderr.read() == ""
