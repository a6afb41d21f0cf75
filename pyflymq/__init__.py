"""``pyflymq``: flymq under the upstream SDK's import name.

Every name is the *same object* as in :mod:`flymq` (``pyflymq.FlyMQClient is
flymq.FlyMQClient``), so ``isinstance`` and ``except`` work across both names. The submodules
(``pyflymq.exceptions``, ``.serde``, ``.protocol``, ...) are flymq's modules under upstream
paths.
"""

from __future__ import annotations

from typing import Any

import flymq
from flymq import *  # noqa: F401,F403
from flymq import __all__, __author__, __license__, __version__  # noqa: F401


def __getattr__(name: str) -> Any:
    return getattr(flymq, name)  # lazy names (Broker, Producer, OpCode, ...) resolve in flymq
