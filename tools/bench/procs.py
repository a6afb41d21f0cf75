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
from concurrent.futures import ProcessPoolExecutor
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


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float = 600.0) -> Any:
    """Call a module-level ``fn(*args)`` in a fresh spawned process (clean RSS, own GIL)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result(timeout=timeout)
