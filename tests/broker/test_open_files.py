"""Open-file limits: the broker raises its soft limit, keeps few index files open, and
reports running out of descriptors as a StorageError (each case in a child process, whose
limits it may change)."""

import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")


def run_child(code: str, tmp_path) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(150)
def test_a_broker_raises_the_soft_limit_and_serves_many_partitions(tmp_path):
    out = run_child("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 2048))
        from flymq.broker import Broker
        with Broker(sys.argv[1]) as broker:
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 2048
            client = broker.client()
            client.create_topic("wide", 1200)            # one log file open per partition
            for p in range(1200):
                client.produce("wide", b"v%d" % p, partition=p)
        with Broker(sys.argv[1]) as broker:
            assert [broker.fetch("wide", p, 0, 1).messages[0].value for p in range(1200)] == \\
                [b"v%d" % p for p in range(1200)]
        print("ok")
    """, tmp_path)
    assert out.strip() == "ok"


@pytest.mark.timeout(150)
def test_running_out_of_descriptors_is_a_storage_error_and_loses_nothing(tmp_path):
    out = run_child("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
        from flymq import StorageError
        from flymq.broker import Broker
        broker = Broker(sys.argv[1])
        client = broker.client()
        made = 0
        try:
            for made in range(1000):
                client.produce(f"t{made}", b"x")
        except StorageError as exc:
            assert "too many open files" in str(exc) and "open-file limit" in exc.hint, exc
        else:
            raise AssertionError("no StorageError")
        assert client.fetch("t0", 0, 0, 1).messages[0].value == b"x"   # still serving
        broker.close()
        print(made)
    """, tmp_path)
    made = int(out)
    assert 100 < made < 200
    from flymq.broker import Broker

    with Broker(tmp_path) as broker:   # this process has its usual limit
        for i in range(made):
            assert broker.fetch(f"t{i}", 0, 0, 1).messages[0].value == b"x"
