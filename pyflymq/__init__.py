"""``pyflymq``: flymq under the upstream SDK's import name.

Every name is the *same object* as in :mod:`flymq` (``pyflymq.FlyMQClient is
flymq.FlyMQClient``), so ``isinstance`` and ``except`` work across both names. The submodules
(``pyflymq.exceptions``, ``.serde``, ``.protocol``, ...) are flymq's modules under upstream
paths.
"""

from __future__ import annotations

import importlib
from typing import Any

import flymq
from flymq import *  # noqa: F401,F403
from flymq import __all__, __author__, __license__, __version__  # noqa: F401

# Submodule paths real code imports (client-api.md §1.1). Python binds ``pyflymq.<name>`` only
# once the submodule is imported, so ``import pyflymq; pyflymq.exceptions`` needs this list.
_SUBMODULES = frozenset({
    "binary", "client", "consumer", "crypto", "exceptions", "matcher", "models", "producer",
    "protocol", "reactive", "serde", "tls", "types",
})


def __getattr__(name: str) -> Any:
    """Import a listed submodule on first access (keeps ``import pyflymq`` cheap); every other
    name resolves in flymq (lazy names such as Broker, Producer, OpCode).

    Submodules come first: flymq has modules of the same name (``flymq.models``) that are not
    the ``pyflymq`` ones. A module flymq does not implement (``crypto``, ``reactive``) is a
    missing attribute whose message names it; ``import pyflymq.crypto`` raises the ImportError.
    """
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:  # not implemented: hasattr() must stay False
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}: {exc}") \
                from exc
    return getattr(flymq, name)
