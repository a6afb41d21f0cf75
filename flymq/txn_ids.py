"""Transaction ids a client picks itself, so that a transaction needs no BEGIN round trip:
the broker begins it with the first batch of records sent under that id (PRODUCE_TX_BATCH,
docs/transactions.md). They can never equal an id the broker makes (``txn-...``)."""

from __future__ import annotations

import os
import re

_CLIENT_ID = re.compile(r"ctx-[0-9a-f]{32}\Z")


def new_client_txn_id() -> str:
    """A fresh id no other client picks (128 random bits; a ``uuid4`` costs ten times more)."""
    return f"ctx-{os.urandom(16).hex()}"


def is_client_txn_id(txn_id: str) -> bool:
    """Whether ``txn_id`` has the shape of :func:`new_client_txn_id`."""
    return _CLIENT_ID.match(txn_id) is not None
