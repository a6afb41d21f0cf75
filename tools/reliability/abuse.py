"""The abuse figures of docs/reliability.md, rerun against a real ``flymq serve``.

Part 1, fair serving: a well-behaved client (LIST_TOPICS and a small PRODUCE, paced) is timed
alone, then while attacking connections of four kinds run: pipelined FETCHes with the filter
``(x+x+)+y`` over 20,000 records, pipelined gzip-flagged PRODUCE frames of ~32 KB that inflate
to 32 MiB, partial 32 MiB frames, and one-byte headers that hold a slot. It reports both p99s
and their ratio (same server, same run).

Part 2, bounded memory: N connections (1,000 by default) each send the header of a 32 MiB frame
and up to ``--body-mib`` of its body, then stop. It reports the server's RSS
(``/proc/PID/status``) before and 5 s after they sent it all (their kernel buffers hold what
the server does not read), against the configured global limit, and times a well-behaved
request meanwhile.

    python -m tools.reliability.abuse                  # both parts (about a minute)
    python -m tools.reliability.abuse --part fair --seconds 20
    python -m tools.reliability.abuse --part memory --holders 1000

The attackers run in a child process, so their Python threads never compete with the timed
client for its interpreter lock.
"""

from __future__ import annotations

import argparse
import errno
import multiprocessing
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from typing import Callable

from flymq import FlyMQClient
from flymq.errors import FlyMQError
from flymq import protocol as p
from flymq.protocol import Op
from flymq.testing import ServeProcess

TOPIC = "abuse"
RECORDS = 20_000
FILTER = "(x+x+)+y"
BIG = p.MAX_PAYLOAD                    # a partial frame declares the largest legal payload
MIB = 1024 * 1024
#: What the run configures (and reports): the global bound on buffered request bytes and the
#: deadline for a frame to arrive once its first byte did.
LIMITS = {"max-buffered-request-bytes": 64 * MIB, "frame-timeout-s": 60}


def _frame(op: int, payload: bytes, flags: int = p.FLAG_BINARY) -> bytes:
    return p.HEADER.pack(p.MAGIC, p.VERSION, op, flags, len(payload)) + payload


def _read_frames(sock: socket.socket, count: int) -> None:
    """Read ``count`` whole reply frames (setup only)."""
    buf = bytearray()
    while count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed during setup")
        buf += chunk
        while len(buf) >= p.HEADER_SIZE:
            length = p.HEADER.unpack_from(buf)[4]
            if len(buf) < p.HEADER_SIZE + length:
                break
            del buf[:p.HEADER_SIZE + length]
            count -= 1


def fill_topic(address: tuple[str, int]) -> None:
    """20,000 records of 200 'x' (each one a long non-match for the filter), pipelined."""
    with FlyMQClient(f"{address[0]}:{address[1]}") as client:
        client.create_topic(TOPIC)
    one = _frame(Op.PRODUCE, p.ProduceRequest(TOPIC, b"", b"x" * 200, 0).encode())
    with socket.create_connection(address) as sock:
        for _ in range(RECORDS // 1000):
            sock.sendall(one * 1000)
            _read_frames(sock, 1000)


# --- attackers (in a child process) ---------------------------------------------------------

def pipeline(address: tuple[str, int], frames: bytes, stop: threading.Event) -> socket.socket:
    """A connection sending ``frames`` again and again without waiting for replies (a thread
    drains them) until ``stop``; the caller shuts it down (a send may be blocked while the
    server does not read). Also the attacker of tests/server/test_server_abuse.py."""
    sock = socket.create_connection(address)

    def drain() -> None:
        try:
            while sock.recv(1 << 20):
                pass
        except OSError:
            pass

    def send() -> None:
        try:
            while not stop.is_set():
                sock.sendall(frames)
        except OSError:
            pass  # closed by the server (or at the end of the run)
    threading.Thread(target=drain, daemon=True).start()
    threading.Thread(target=send, daemon=True).start()
    return sock


def _pipeline(address: tuple[str, int], frames: bytes, stop: threading.Event) -> None:
    with pipeline(address, frames, stop) as sock:
        stop.wait()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the server closed it already


def _hold(address: tuple[str, int], first: bytes, stop: threading.Event) -> None:
    """Send ``first`` and nothing more until the run ends (or the server closes)."""
    try:
        with socket.create_connection(address) as sock:
            sock.sendall(first)
            stop.wait()
    except OSError:
        pass


def _attackers(address: tuple[str, int], stop: threading.Event
               ) -> dict[str, tuple[Callable[..., None], tuple]]:
    """Each kind of attacking connection: the function a thread runs and its arguments."""
    fetch = _frame(Op.FETCH, p.FetchRequest(TOPIC, 0, 0, 1000, FILTER).encode()) * 16
    bomb = _frame(Op.PRODUCE, p.gzip_payload(bytes(BIG)), p.FLAG_BINARY | p.FLAG_GZIP) * 4
    partial = p.HEADER.pack(p.MAGIC, p.VERSION, Op.PRODUCE, p.FLAG_BINARY, BIG) \
        + bytes(BIG - 10)
    return {"filter": (_pipeline, (address, fetch, stop)),
            "gzip": (_pipeline, (address, bomb, stop)),
            "partial": (_hold, (address, partial, stop)),
            "byte": (_hold, (address, bytes([p.MAGIC]), stop))}


KINDS = ("filter", "gzip", "partial", "byte")


def _attack(address: tuple[str, int], per_kind: int, kinds: tuple[str, ...],
            ready: "multiprocessing.Event", done: "multiprocessing.Event") -> None:
    stop = threading.Event()
    attackers = _attackers(address, stop)
    jobs = [attackers[kind] for _ in range(per_kind) for kind in kinds]
    threads = [threading.Thread(target=fn, args=args, daemon=True) for fn, args in jobs]
    for t in threads:
        t.start()
    ready.set()
    done.wait()
    stop.set()


# --- the well-behaved client ----------------------------------------------------------------

def well_behaved(address: tuple[str, int], seconds: float, pace_s: float = 0.01
                 ) -> tuple[list[float], int]:
    """Latencies (s) of alternating LIST_TOPICS and 100-byte PRODUCE calls, one per
    ``pace_s``, and how many failed (a failed call counts with the time it took)."""
    latencies, failed = [], 0
    t0 = time.perf_counter()
    try:
        client = FlyMQClient(f"{address[0]}:{address[1]}")
        client.list_topics()  # connect outside the timing
    except FlyMQError:  # not even served a connection
        return [time.perf_counter() - t0], 1
    with client:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                if n % 2:
                    client.produce("well-behaved", b"v" * 100)
                else:
                    client.list_topics()
            except FlyMQError:
                failed += 1
            latencies.append(time.perf_counter() - t0)
            n += 1
            time.sleep(pace_s)
    return latencies, failed


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def fair_serving(seconds: float, per_kind: int, kinds: tuple[str, ...],
                 serve_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as data, \
            ServeProcess("--port", "0", "--data-dir", data, *serve_args) as server:
        fill_topic(server.address)
        alone, _ = well_behaved(server.address, seconds)
        ready, done = multiprocessing.Event(), multiprocessing.Event()
        attackers = multiprocessing.Process(target=_attack,
                                            args=(server.address, per_kind, kinds, ready, done))
        attackers.start()
        try:
            ready.wait(30)
            time.sleep(1.0)  # let the pipelines fill
            attacked, failed = well_behaved(server.address, seconds)
        finally:
            done.set()
            attackers.join(30)
            server.kill()  # no graceful stop behind the attackers' backlog
        return {"alone": alone, "attacked": attacked, "failed": failed}


# --- memory under partial frames ------------------------------------------------------------

def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0])
    return out


def hold_partial_frames(address: tuple[str, int], holders: int, body: int, seconds: float
                        ) -> tuple[list[socket.socket], int]:
    """``holders`` connections that each send a 32 MiB frame's header and up to ``body``
    bytes of it, for ``seconds`` (non-blocking: whatever the server reads); the sockets
    still open, and the bytes the server accepted in all."""
    header = p.HEADER.pack(p.MAGIC, p.VERSION, Op.PRODUCE, p.FLAG_BINARY, BIG)
    chunk = memoryview(bytes(256 * 1024))
    socks, left = [], {}
    with selectors.DefaultSelector() as sel:
        for _ in range(holders):
            s = socket.create_connection(address)
            s.sendall(header)
            s.setblocking(False)
            socks.append(s)
            if body:
                left[s] = body
                sel.register(s, selectors.EVENT_WRITE)
        sent = 0
        end = time.monotonic() + seconds
        while left and time.monotonic() < end:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    n = s.send(chunk[:min(left[s], len(chunk))])
                except BlockingIOError:
                    continue
                except OSError as exc:  # closed by the server
                    if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                        raise
                    n, left[s] = 0, 0
                sent += n
                left[s] -= n
                if not left[s]:
                    del left[s]
                    sel.unregister(s)
    return socks, sent


def bounded_memory(holders: int, body_mib: int, serve_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as data, \
            ServeProcess("--port", "0", "--data-dir", data, "--max-connections",
                         str(holders + 100), *serve_args) as server:
        pid = server.proc.pid
        with FlyMQClient(server.bootstrap) as client:
            client.list_topics()
        before = rss_kib(pid)
        socks, sent = hold_partial_frames(server.address, holders, body_mib * MIB, 20.0)
        time.sleep(5.0)  # the server reads what the kernel still holds for it
        during = rss_kib(pid)
        t0 = time.perf_counter()
        with FlyMQClient(server.bootstrap) as client:
            client.list_topics()
            client.produce("well-behaved", b"v" * 100)
        served = time.perf_counter() - t0
        alive = sum(1 for s in socks if _open(s))
        for s in socks:
            s.close()
        return {"before": before, "during": during, "offered": holders * body_mib * MIB,
                "sent": sent, "alive": alive, "served_s": served}


def _open(sock: socket.socket) -> bool:
    """Still held: nothing to read (a holder's only possible reply is the error that closes
    it)."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except OSError:
        pass
    return False


# --- report ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.reliability.abuse",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("fair", "memory", "both"), default="both")
    ap.add_argument("--seconds", type=float, default=15.0, help="per timed phase")
    ap.add_argument("--per-kind", type=int, default=4, help="attacking connections per kind")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"attacks to run, comma-separated (default: all of {','.join(KINDS)})")
    ap.add_argument("--holders", type=int, default=1000)
    ap.add_argument("--body-mib", type=int, default=1,
                    help="body bytes each holder offers (MiB); the server reads what it allows")
    ap.add_argument("--no-limits", action="store_true",
                    help="leave the server's limits at their defaults")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for flymq serve (repeat it)")
    args = ap.parse_args(argv)
    serve_args = ([] if args.no_limits else
                  [a for k, v in LIMITS.items() for a in (f"--{k}", str(v))]) + args.serve_arg
    print(f"flymq serve {' '.join(serve_args)}")
    if args.part in ("fair", "both"):
        kinds = tuple(args.kinds.split(","))
        r = fair_serving(args.seconds, args.per_kind, kinds, serve_args)
        alone, attacked = p99(r["alone"]) * 1000, p99(r["attacked"]) * 1000
        print(f"fair serving: {args.per_kind} attackers of each kind ({', '.join(kinds)}), "
              f"{args.seconds:.0f} s per phase")
        print(f"  unattacked: {len(r['alone'])} calls, p50 "
              f"{statistics.median(r['alone']) * 1000:.2f} ms, p99 {alone:.2f} ms")
        print(f"  attacked:   {len(r['attacked'])} calls, p50 "
              f"{statistics.median(r['attacked']) * 1000:.2f} ms, p99 {attacked:.2f} ms, "
              f"max {max(r['attacked']) * 1000:.1f} ms, {r['failed']} failed")
        print(f"  p99 ratio attacked/unattacked: {attacked / alone:.1f}x")
    if args.part in ("memory", "both"):
        r = bounded_memory(args.holders, args.body_mib, serve_args)
        given = [v for k, v in zip(serve_args, serve_args[1:])
                 if k == "--max-buffered-request-bytes"]  # the last one counts
        limit = f"{int(given[-1]) // MIB} MiB" if given else "the default"
        print(f"bounded memory: {args.holders} connections holding partial {BIG // MIB} MiB "
              f"frames, offering {r['offered'] // MIB} MiB of body in all")
        print(f"  server RSS before {r['before']['VmRSS'] // 1024} MiB, while held "
              f"{r['during']['VmRSS'] // 1024} MiB (peak {r['during']['VmHWM'] // 1024} MiB); "
              f"global limit {limit}")
        print(f"  bytes the holders sent (kernel buffers included): {r['sent'] // MIB} MiB; "
              f"holders still held: {r['alive']} (the rest told the server is busy); "
              f"a well-behaved connect+LIST_TOPICS+PRODUCE took {r['served_s'] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
