"""The handle of one broker transaction (client-api.md §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from flymq.errors import TransactionNotActiveError
from flymq.models import RecordMetadata

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient


class Transaction:
    """Writes held by the broker until :meth:`commit` makes them all visible at once;
    :meth:`rollback` discards them (docs/transactions.md).

    It stays active until a commit or rollback *succeeds*, so a failed commit can still be
    rolled back.
    """

    def __init__(self, client: "FlyMQClient", txn_id: str):
        self._client = client
        self._txn_id = txn_id
        self._active = True

    def __repr__(self) -> str:
        return f"Transaction(txn_id={self._txn_id!r}, active={self._active})"

    @property
    def txn_id(self) -> str:
        return self._txn_id

    @property
    def active(self) -> bool:
        return self._active

    def _check_active(self) -> None:
        if not self._active:
            raise TransactionNotActiveError()

    def produce(self, topic: str, data: bytes | str) -> RecordMetadata:
        self._check_active()
        return self._client.produce_transactional(self._txn_id, topic, data)

    def send_offsets_to_transaction(self, offsets: Mapping[tuple[str, int], int]
                                    | Iterable[tuple[str, int, int]], group_id: str) -> None:
        """[ext] Commit ``{(topic, partition): next offset}`` for consumer group ``group_id``
        with this transaction: both or neither (consume-transform-produce exactly once)."""
        self._check_active()
        self._client.send_offsets_to_transaction(self._txn_id, group_id, offsets)

    def commit(self) -> None:
        self._check_active()
        self._client.commit_transaction(self._txn_id)
        self._active = False

    def rollback(self) -> None:
        self._check_active()
        self._client.abort_transaction(self._txn_id)
        self._active = False
