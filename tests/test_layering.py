"""Layering (docs/architecture.md): a TCP-only program never loads the storage engine, and the
broker and the client never import each other at module level.

Each check runs in a fresh interpreter: this test process loaded everything long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys

from flymq.testing import PACKAGE_ROOT

STORAGE = ("flymq.broker", "crcmod", "lz4", "crc32c")

# Every module of the client but flymq.client.local: the embedded transport is the client's one
# door to the broker, and loads only when a client is bound to a broker in its own process.
IMPORT_THE_CLIENT = """
import importlib, pkgutil, sys
import flymq, pyflymq, flymq.client, flymq.client.tcp
from pyflymq import FlyMQClient
for name in sorted(pyflymq._SUBMODULES - {"crypto", "reactive"}):  # those two: missing extras
    importlib.import_module("pyflymq." + name)
for module in pkgutil.iter_modules(flymq.client.__path__, "flymq.client."):
    if module.name != "flymq.client.local":
        importlib.import_module(module.name)
"""

# The flymq package re-exports the client; an empty stand-in for it lets this program see what
# the broker's own modules import.
IMPORT_THE_BROKER = """
import importlib, importlib.util, pkgutil, sys
sys.modules["flymq"] = importlib.util.module_from_spec(importlib.util.find_spec("flymq"))
import flymq.broker
for module in pkgutil.walk_packages(flymq.broker.__path__, "flymq.broker."):
    importlib.import_module(module.name)
"""


def modules_loaded_by(program: str) -> list[str]:
    """The names in ``sys.modules`` once ``program`` has run in a new interpreter."""
    report = "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", program + report], cwd=PACKAGE_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_client_loads_no_broker_and_no_storage() -> None:
    loaded = modules_loaded_by(IMPORT_THE_CLIENT)
    assert "flymq.client.tcp" in loaded and "flymq.client.producer" in loaded
    assert [m for m in loaded if m.startswith(STORAGE)] == []


def test_importing_the_broker_loads_no_client() -> None:
    loaded = modules_loaded_by(IMPORT_THE_BROKER)
    assert "flymq.broker.storage" in loaded
    assert [m for m in loaded if m.startswith(("flymq.client", "pyflymq"))] == []


def test_a_tcp_program_loads_no_storage(flymq_server: str) -> None:
    """Everything a TCP client does, including the paths that import on first use."""
    program = IMPORT_THE_CLIENT + f"""
from flymq import FlyMQClient, Producer, UnsupportedOperationError
with FlyMQClient({flymq_server!r}) as client:
    client.create_topic("orders", 3, config={{"retention_ms": 60_000}})
    client.produce("orders", b"one", key=b"user-1")
    client.produce("orders", b"two")
    with Producer(client) as producer:
        producer.send("orders", b"three", key=b"user-2")
    with client.consumer("orders", group_id="billing") as consumer:
        assert len(consumer.poll(timeout_ms=100)) == 3
    assert client.fetch("orders", 0).next_offset >= 0
    try:
        client.begin_transaction()
    except UnsupportedOperationError:
        pass
"""
    loaded = modules_loaded_by(program)
    assert [m for m in loaded if m.startswith(STORAGE)] == []
