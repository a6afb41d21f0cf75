"""A live progress bar: tqdm on a terminal, plain lines otherwise (a pipe, a log, no tqdm)."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """One bar per scenario; ``step(text)`` advances it and shows what runs now."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._plain_total = 0
        self._plain_done = 0
        self._started = 0.0

    def start(self, title: str, total: int) -> None:
        self.close()
        self._started = time.perf_counter()
        if not self.enabled:
            return
        if sys.stderr.isatty():  # a pipe or a log gets plain lines, not \r redraws
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, desc=title, unit="step", file=sys.stderr,
                                 dynamic_ncols=True, leave=True)
                return
        self._plain_total, self._plain_done = total, 0
        print(f"[{title}] {total} steps", file=sys.stderr, flush=True)

    def step(self, text: str, n: int = 1) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(text[:60], refresh=False)
            self._bar.update(n)
            return
        self._plain_done += n
        print(f"  {self._plain_done}/{self._plain_total} {text}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A message that must not be hidden by the bar (skips, failures)."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
