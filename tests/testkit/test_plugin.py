"""The pytest plugin as its users meet it: fixtures in a fresh pytest run (pytester)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

FIXTURES = ("flymq_clock", "flymq_broker_config", "flymq_data_dir", "flymq_broker",
            "flymq_strict_broker", "flymq_client", "flymq_server", "flymq_faults",
            "flymq_proxy", "flymq_serve_process")

USER_TESTS = '''
import pytest
from flymq import FlyMQClient
from flymq.errors import StorageError, TopicNotFoundError


def test_embedded(flymq_client, flymq_clock):
    flymq_client.produce("t", b"x")
    flymq_clock.advance(1000)
    assert flymq_client.fetch("t", 0, 0).messages[0].value == b"x"


def test_tcp_with_faults(flymq_server, flymq_faults):
    with FlyMQClient(flymq_server) as client:
        flymq_faults.fail_next("produce")
        with pytest.raises(Exception, match="injected fault"):
            client.produce("t", b"x")
        flymq_faults.limit_disk(0)
        with pytest.raises(StorageError, match="no space left"):
            client.produce("t", b"x")


def test_proxy(flymq_proxy):
    with FlyMQClient(flymq_proxy.address, max_retries=1) as client:
        client.produce("t", b"x")
        flymq_proxy.drop()
        with pytest.raises(Exception):
            client.produce("t", b"y")
        assert client.produce("t", b"z").offset == 1


def test_strict(flymq_strict_broker):
    with pytest.raises(TopicNotFoundError):
        flymq_strict_broker.produce("t", b"x")


def test_crash(flymq_broker, flymq_client):
    flymq_client.produce("t", b"x")
    flymq_broker.crash()
    flymq_broker.restart()
    assert flymq_client.fetch("t", 0, 0).messages[0].value == b"x"


def test_serve_process(flymq_serve_process):
    with FlyMQClient(flymq_serve_process.bootstrap) as client:
        client.produce("t", b"x")
    flymq_serve_process.kill()
'''


def test_the_fixtures_work_in_a_user_project(pytester: pytest.Pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_every_fixture_has_a_docstring(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    text = result.stdout.str()
    for name in FIXTURES:
        assert name in text, name
        line = text[text.index(name):].splitlines()
        assert "no docstring available" not in line[1], name


def test_import_without_pytest():
    """flymq.testing (redirect, start_server, Faults, the proxy) works without pytest."""
    code = ("import sys; sys.modules['pytest'] = None\n"
            "import flymq.testing as t\n"
            "from flymq.broker import Broker\n"
            "b = Broker()\n"
            "with t.Faults(b) as f, t.start_server(b) as s, t.FaultyProxy('%s:%d' % s.address):\n"
            "    with t.redirect('localhost:9092', b):\n"
            "        from flymq import FlyMQClient\n"
            "        FlyMQClient('localhost:9092').produce('t', b'x')\n"
            "b.close()\n"
            "print('without pytest: ok', flush=True)\n"
            "import flymq.testing.plugin\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert run.stdout == "without pytest: ok\n", run.stderr
    assert run.returncode == 1 and "pytest" in run.stderr  # only the plugin needs it
