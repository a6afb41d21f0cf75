"""``flymq serve`` out of file descriptors (issue 16, points 1 and 6): every request that needs
one more gets a StorageError saying so, with a hint (never ``internal error: OSError``), the
rest is served, a connection it could not accept is served once descriptors are free again,
and nothing needs a restart. The server's limit is lowered with prlimit once it runs (it
raises its soft limit to the hard one at start)."""

from __future__ import annotations

import os
import socket

import pytest

from flymq import FlyMQClient
from flymq import protocol as p
from flymq.errors import StorageError, error_from_wire
from flymq.protocol import Op
from flymq.testing import ServeProcess
from srvutil import decode_reply, error_text, frame

resource = pytest.importorskip("resource")
pytestmark = pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit")

LIMIT = 120


def answer(sock: socket.socket, timeout: float) -> str:
    """What became of a LIST_TOPICS sent on ``sock`` within ``timeout`` seconds: "served",
    "waiting" (not accepted yet), "dropped" (libuv, under uvloop, accepts and closes what it
    has no descriptor for) or the text of the error frame that answered it (asyncio's loop,
    through flymq.server.accept_guard)."""
    sock.settimeout(timeout)
    try:
        header = sock.recv(p.HEADER_SIZE, socket.MSG_WAITALL)
    except TimeoutError:
        return "waiting"
    except ConnectionResetError:
        return "dropped"
    if not header:
        return "dropped"
    _, _, op, flags, length = p.HEADER.unpack(header)
    reply = p.Frame(op, flags, sock.recv(length, socket.MSG_WAITALL))
    if op == Op.ERROR:
        return error_text(reply)
    assert "kept" in decode_reply(Op.LIST_TOPICS, reply).topics
    return "served"


def ask(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(frame(Op.LIST_TOPICS))
    return sock


@pytest.mark.timeout(60)
def test_a_served_broker_out_of_descriptors(tmp_path, event_loop_name):
    with ServeProcess("--port", "0", "--data-dir", str(tmp_path), "--fsync", "never",
                      "--event-loop", event_loop_name) as serve:
        resource.prlimit(serve.proc.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
        client = FlyMQClient(serve.bootstrap)
        client.produce("kept", b"x")
        made = 0
        with pytest.raises(StorageError, match="too many open files") as info:
            for made in range(LIMIT):   # each new topic keeps its log file open
                client.produce(f"t{made}", b"x")
        assert "open-file limit" in info.value.hint
        for i in range(10):             # and stays so, typed, while nothing is freed
            with pytest.raises(StorageError, match="too many open files"):
                client.produce(f"u{i}", b"x")
        client.commit_offset("kept", "g", 0, 1)          # what needs no new file works
        assert client.fetch("kept", 0, 0, 1).messages[0].value == b"x"

        waiting = []   # connections until one is not served: the server cannot accept it
        while len(waiting) < 10:
            waiting.append(ask(serve.address))
            outcome = answer(waiting[-1], 2)   # asyncio retries accepting after 1 s
            if outcome != "served":
                break
        else:
            pytest.fail("every connection was accepted: the server never ran out")
        if event_loop_name == "asyncio":   # answered, with the error and its hint
            refused = error_from_wire(outcome)
            assert isinstance(refused, StorageError) and "open-file limit" in refused.hint
            assert outcome.startswith("cannot accept a connection on 127.0.0.1:")
            with pytest.raises(StorageError, match="cannot accept a connection") as info:
                FlyMQClient(serve.bootstrap, max_retries=1).list_topics()   # the client, too
            assert "open-file limit" in info.value.hint
        else:
            assert outcome in ("dropped", "waiting")
        for i in range(made - 15, made):
            client.delete_topic(f"t{i}")                  # frees their descriptors
        if outcome == "waiting":                          # left in the backlog: served now
            assert answer(waiting[-1], 5) == "served"
        later = ask(serve.address)
        assert answer(later, 5) == "served"               # without a restart
        for sock in waiting + [later]:
            sock.close()
        client.produce("after", b"y")
        assert client.fetch("after", 0, 0, 1).messages[0].value == b"y"
        assert client.fetch("t0", 0, 0, 1).messages[0].value == b"x"
        client.close()
        serve.terminate()
        log = serve.proc.stderr.read()
    assert "unexpected error" not in log and "Traceback" not in log, log[-2000:]
