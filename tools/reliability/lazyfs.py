"""LazyFS mounts for power-loss runs.

LazyFS (``../shared/lazyfs`` beside the project, README there) is a FUSE file system that keeps
every unsynced write in its own cache and drops it on ``lazyfs::clear-cache``: what a power
loss does to a program's files, which ``kill -9`` cannot show because the kernel keeps its page
cache. It models file data only: creates, renames and unlinks are never undone, and a
directory fsync does nothing.

:func:`unavailable` says why LazyFS cannot run here (tests skip with that reason);
:class:`LazyFS` mounts it for a ``with`` block and sends it faults.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Where the LazyFS build lives: ``$LAZYFS_DIR``, else ``../shared/lazyfs`` beside the project.
LAZYFS_DIR = Path(os.environ.get("LAZYFS_DIR") or PROJECT_ROOT.parent / "shared" / "lazyfs")
INSTALL_HINT = "apt-get install -y fuse3 libfuse3-3"
MAX_COMMAND_BYTES = 99        # LazyFS reads one fault command per write, under 100 bytes
MOUNT_TIMEOUT_S = 30.0


class LazyFSError(RuntimeError):
    """LazyFS did not mount, did not take a command, or its cache stopped modelling loss."""


def unavailable() -> str | None:
    """Why LazyFS cannot run on this machine, or None when it can (it may still fail to
    mount, e.g. in a container without the right to mount FUSE file systems)."""
    if not sys.platform.startswith("linux"):
        return "LazyFS needs Linux (FUSE)"
    if not (LAZYFS_DIR / "lazyfs").is_file() or not (LAZYFS_DIR / "lazyfs-run.sh").is_file():
        return f"no LazyFS build at {LAZYFS_DIR} (expected ../shared/lazyfs beside the project)"
    if os.geteuid() != 0:
        return "LazyFS mounts need root here (FUSE with allow_other)"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("fusermount3") is None:
        return f"fuse3 is not installed ({INSTALL_HINT})"
    if ctypes.util.find_library("fuse3") is None:
        return f"libfuse3-3 is not installed ({INSTALL_HINT})"
    return None


class LazyFS:
    """A LazyFS mount at :attr:`mount` backed by :attr:`root`, a fresh directory with a short
    name under /tmp (fault commands name ROOT paths and must stay under 100 bytes).
    ``cache_size`` must exceed every byte written while one mount lasts: a full cache writes
    straight through and would hide lost data, which :meth:`power_loss` checks with a canary
    file."""

    def __init__(self, cache_size: str = "256mb"):
        self.cache_size = cache_size
        self.root = Path(tempfile.mkdtemp(prefix="lz", dir="/tmp"))  # short: ROOT paths
        self.workdir = self.root.with_name(self.root.name + ".d")    # mount point, FIFOs, log
        self.workdir.mkdir()
        self.mount = self.workdir / "m"
        self.log = self.workdir / "lazyfs.log"
        self._faults = self.workdir / "faults.fifo"
        self._done = self.workdir / "done.fifo"
        os.mkfifo(self._done)
        self._done_fd = -1
        self._proc: subprocess.Popen | None = None

    # --- mounting --------------------------------------------------------------------------
    def start(self) -> None:
        """Mount (again, after a crash or :meth:`stop`: the files in :attr:`root` stay)."""
        if self._done_fd < 0:  # LazyFS blocks on its completion FIFO until a reader holds it
            self._done_fd = os.open(self._done, os.O_RDONLY | os.O_NONBLOCK)
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [str(LAZYFS_DIR / "lazyfs-run.sh"), "-r", str(self.root), "-m", str(self.mount),
                 "-f", str(self._faults), "-C", str(self._done), "-s", self.cache_size,
                 "-l", str(self.log)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not os.path.ismount(self.mount):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LazyFSError(f"LazyFS did not mount at {self.mount}: {self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Unmount (the script unmounts on SIGTERM) and wait for LazyFS to end."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if os.path.ismount(self.mount):  # the script could not unmount (busy): detach it
            subprocess.run(["fusermount3", "-uz", str(self.mount)], capture_output=True)

    def wait_crashed(self, timeout: float = 10.0) -> None:
        """Wait for LazyFS to die by a fault (``torn-op`` kills it after tearing), then
        unmount what is left; :meth:`start` mounts the surviving files again."""
        assert self._proc is not None
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise LazyFSError(f"LazyFS is still running {timeout} s after a crash fault: "
                              f"{self.log_tail()}") from None
        self.stop()

    def close(self) -> None:
        """Unmount and remove everything, the backing files too."""
        self.stop()
        if self._done_fd >= 0:
            os.close(self._done_fd)
            self._done_fd = -1
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LazyFS":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- faults ----------------------------------------------------------------------------
    def root_path(self, path: Path) -> Path:
        """The ROOT path of ``path`` in the mount: the path LazyFS's fault commands match."""
        return self.root / Path(path).relative_to(self.mount)

    def command(self, line: str) -> None:
        """Send one fault command (LazyFS reads one per write)."""
        data = (line + "\n").encode()
        if len(data) > MAX_COMMAND_BYTES:
            raise LazyFSError(f"fault command too long for LazyFS ({len(data)} bytes): {line}")
        deadline = time.monotonic() + 5.0
        while True:
            try:  # non-blocking: ENXIO while LazyFS has not opened its end yet
                fd = os.open(self._faults, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise LazyFSError(f"LazyFS does not read {self._faults}: "
                                      f"{self.log_tail()}") from None
                time.sleep(0.01)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def clear_cache(self, timeout: float = 10.0) -> None:
        """Drop every unsynced byte (the power loss) and wait until LazyFS has done it."""
        self._read_done()  # forget an earlier answer
        self.command("lazyfs::clear-cache")
        deadline = time.monotonic() + timeout
        answer = b""
        while b"finished::clear-cache" not in answer:
            if time.monotonic() > deadline:
                raise LazyFSError(f"LazyFS did not finish clear-cache: {self.log_tail()}")
            time.sleep(0.002)
            answer += self._read_done()

    def _read_done(self) -> bytes:
        try:
            return os.read(self._done_fd, 4096)
        except BlockingIOError:  # a writer is there but has said nothing yet
            return b""

    def power_loss(self) -> None:
        """:meth:`clear_cache`, checked: an unsynced canary file written just before must be
        empty afterwards, or the cache is full and writes go straight to disk (a run then
        would prove nothing). The canary is rewritten, never removed, so that it costs one
        file in the cache however often it is used."""
        canary = self.mount / ".canary"
        fd = os.open(canary, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, b"unsynced", 0)
        finally:
            os.close(fd)
        self.clear_cache()
        if canary.stat().st_size:
            raise LazyFSError("LazyFS kept unsynced data through clear-cache: its cache is "
                              f"full (size {self.cache_size}); mount it again or make it larger")

    def tear_next_write(self, path: Path, parts: int, persist: tuple[int, ...]) -> None:
        """Tear the next write to ``path`` (in the mount) into ``parts`` pieces, keep only
        those numbered in ``persist`` (1-based) and kill LazyFS: a power loss mid-write."""
        self.command(f"lazyfs::torn-op::file={self.root_path(path)}::parts={parts}"
                     f"::persist={','.join(map(str, persist))}")
