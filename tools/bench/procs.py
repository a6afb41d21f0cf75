"""Child processes of a benchmark: ports, start/stop, isolation; nothing outlives the run."""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
_LIVE: set[subprocess.Popen] = set()


class Unavailable(RuntimeError):
    """A peer or flymq component cannot run here; the reason says how to get it."""


def import_peer(module: str, package: str) -> Any:
    """The peer's Python module, or :class:`Unavailable` saying which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Unavailable(f"Python package {package} not installed (pip install {package})"
                          ) from None


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15.0,
                  interval: float = 0.002) -> float:
    """Seconds until 127.0.0.1:port accepts a connection; raises if the process dies first."""
    start = time.perf_counter()
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return time.perf_counter() - start
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with code {proc.returncode} before "
                               f"listening on port {port}")
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"nothing listening on {HOST}:{port} after {timeout:.0f} s")
        time.sleep(interval)


def stop(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Terminate a process started by :class:`Child` (its own session), then kill it."""
    _LIVE.discard(proc)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(grace)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        stop(proc, grace=1.0)


class Child:
    """``with Child([...]) as proc:`` runs a server in its own session, killed on exit."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv, self.log, self.env = list(argv), log, env
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> subprocess.Popen:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env={**os.environ, **(self.env or {})})
        _LIVE.add(self.proc)
        return self.proc

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class TempDir:
    """A temporary directory removed on exit, even after an error."""

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"flymq-bench-{prefix}-"))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def find_executable(name: str) -> str | None:
    """``name`` on PATH or next to this Python (where pip puts console scripts)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


def exit_on_sigterm() -> None:
    """Make SIGTERM unwind the program as Ctrl-C does, so every ``with Child``/``TempDir``
    block stops its server and removes its directory (by default SIGTERM ends a Python
    process on the spot, orphaning both). A second SIGTERM during that cleanup is ignored."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def _call_and_send(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    """The body of a :func:`run_isolated` child: the result (or error) goes back on ``conn``."""
    exit_on_sigterm()
    try:
        conn.send((True, fn(*args)))
    except Exception as exc:  # noqa: BLE001 - re-raised in the parent
        conn.send((False, exc))
    finally:
        conn.close()


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float = 600.0) -> Any:
    """Call a module-level ``fn(*args)`` in a fresh spawned process (clean RSS, own GIL).

    If the caller is interrupted (Ctrl-C, SIGTERM) or the call times out, the child gets
    SIGTERM, which unwinds its own ``with`` blocks, and is killed if it does not end."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_call_and_send, args=(send, fn, args), daemon=True)
    child.start()
    send.close()
    answered = False
    try:
        if not receive.poll(timeout):
            raise TimeoutError(f"{fn.__name__}{args} took more than {timeout:.0f} s")
        ok, value = receive.recv()
        answered = True
    except EOFError:
        raise RuntimeError(f"{fn.__name__}{args} died (exit code {child.exitcode})") from None
    finally:
        receive.close()
        child.join(10 if answered else 0)  # an answered child is on its way out
        if child.is_alive():
            child.terminate()
            child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
    if not ok:
        raise value
    return value
