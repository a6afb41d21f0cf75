"""The ``flymq`` command run as a user runs it: a subprocess per call, against a real
``flymq serve`` (``--server``) and against a data directory (``--data-dir``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from flymq.testing import PACKAGE_ROOT, ServeProcess, serve_env


class Run:
    """What one ``flymq`` call did."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[str]:
        return self.out.splitlines()

    def __repr__(self) -> str:
        return f"<exit {self.code}; stdout {self.out[-400:]!r}; stderr {self.err[-400:]!r}>"


def flymq(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None,
          timeout: float = 30.0) -> Run:
    """``python -m flymq ARGS`` with ``input`` on stdin. Whatever happens, stderr holds no
    traceback and an error is one line (the CLI's promise)."""
    text = not isinstance(input, bytes)
    proc = subprocess.run([sys.executable, "-m", "flymq", *args], input=input,
                          capture_output=True, text=text, env=env or serve_env(),
                          cwd=PACKAGE_ROOT, timeout=timeout)
    run = Run(proc) if text else Run(subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace")))
    assert "Traceback" not in run.err, run
    if run.code and args:  # the error is the last line of stderr, and says who speaks
        assert run.err.strip().splitlines()[-1].startswith("flymq"), run
    return run


@pytest.fixture
def serve(tmp_path: Path):
    """A real ``flymq serve`` on a free port (data in tmp_path/served)."""
    with ServeProcess("--port", "0", "--data-dir", str(tmp_path / "served"),
                      "--fsync", "never") as proc:
        yield proc


@pytest.fixture(params=["server", "data-dir"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The target arguments of every command: a running server, or a data directory."""
    if request.param == "server":
        return ["--server", request.getfixturevalue("serve").bootstrap]
    data = tmp_path / "offline"
    data.mkdir()
    return ["--data-dir", str(data)]


@pytest.fixture
def cli(target: list[str]) -> Callable[..., Run]:
    """``cli("topics", "list")`` runs ``flymq topics list <target args>``."""
    def run(*args: str, **kwargs: Any) -> Run:
        return flymq(*args, *target, **kwargs)
    return run
