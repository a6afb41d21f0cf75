"""The upstream FlyMQ Go broker as a peer: a child process on 127.0.0.1, data in a temp dir.

Its programs (the broker and upstream's Go benchmark) live in ``../shared/upstream`` beside
the project root (shared/upstream/README.md); a user's checkout has no such folder, so every
use raises :class:`Unavailable` saying so. flymq's own TCP client drives it (it speaks the
same protocol), so B2 compares the two brokers through one client harness.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.bench.flymq_target import FlyMQTcp
from tools.bench.machine import REPO_ROOT
from tools.bench.procs import HOST, Child, Unavailable, free_port, wait_for_port

UPSTREAM_DIR = REPO_ROOT.parent / "shared" / "upstream"
#: The performance settings the Go broker logs at start-up that decide what an ack means.
DURABILITY_KEYS = ("acks", "async_io", "sync_interval_ms", "compression",
                   "compression_min_size")


def upstream_program(name: str) -> Path:
    """``UPSTREAM_DIR/name`` (``flymq`` or ``benchmark``), or :class:`Unavailable` saying why."""
    path = UPSTREAM_DIR / name
    if not path.is_file():
        where = "folder" if not UPSTREAM_DIR.is_dir() else f"program {name!r} in the folder"
        raise Unavailable(f"upstream FlyMQ Go {where} {UPSTREAM_DIR} is absent (it is built from "
                          "the upstream source beside the project only; see "
                          "shared/upstream/README.md)")
    return path


@dataclass
class GoBroker(FlyMQTcp):
    """The Go broker driven by flymq's TCP client; ``durability`` is what it logged."""

    name: str = "go-broker"
    durability: str = ""


def durability_note(log_text: str) -> str:
    """The Go broker's durability defaults, from the "Performance configuration" line that
    it logs at start-up (JSON lines), with what they mean for an acknowledged produce."""
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("msg") == "Performance configuration":
            settings = ", ".join(f"{k}={json.dumps(entry[k])}" for k in DURABILITY_KEYS
                                 if k in entry)
            return (f"Go broker defaults: {settings}; it acknowledges a produce before "
                    "writing it, where flymq hands every acknowledged record to the OS first")
    return "Go broker defaults not found in its log"


@contextmanager
def go_broker(workdir: Path, fsync: str = "") -> Iterator[GoBroker]:
    """The upstream Go broker, standalone on free ports with its data in ``workdir``,
    stopped with SIGTERM on exit. It has no fsync setting of flymq's kind: ``fsync`` is
    accepted to start like every peer and ignored (its own defaults are in ``durability``)."""
    binary = upstream_program("flymq")
    port, health = free_port(), free_port()
    child = Child([str(binary), "-quiet"], workdir / "go-broker.log", env={
        "FLYMQ_BIND_ADDR": f"{HOST}:{port}", "FLYMQ_CLUSTER_ADDR": "",
        "FLYMQ_HEALTH_ADDR": f"{HOST}:{health}", "FLYMQ_DATA_DIR": str(workdir / "data"),
        "FLYMQ_NODE_ID": "node1"})
    with child as proc:
        try:
            wait_for_port(port, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"upstream Go broker did not start: {exc}\n"
                               f"{child.log_tail()}") from None
        yield GoBroker((HOST, port), durability=durability_note(child.log.read_text(
            errors="replace")))
