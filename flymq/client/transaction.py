"""The handle of one broker transaction (client-api.md §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from flymq.errors import TransactionNotActiveError
from flymq.models import RecordMetadata

if TYPE_CHECKING:
    from flymq.client.client import FlyMQClient

#: Buffered records are sent before they pass this many bytes or records...
FLUSH_BYTES = 1 << 20
FLUSH_RECORDS = 10_000
#: ...or by a produce this long (client clock) after the broker last heard of the
#: transaction, so that its idle timeout counts from the client's recent activity.
FLUSH_AGE_MS = 1_000


class Transaction:
    """Writes held by the broker until :meth:`commit` makes them all visible at once;
    :meth:`rollback` discards them (docs/transactions.md).

    :meth:`produce` buffers records here and sends them in one call with the commit (or
    earlier, see :data:`FLUSH_BYTES`): one round trip per transaction over TCP instead of
    one per record. Against a flymq server even the begin rides along: the transaction's id
    is picked here (``flymq.txn_ids``) and the broker begins it with the first records sent,
    so the limit of open transactions and the ownership by a session apply from then on.
    A refused record (a missing topic, a limit, a timed-out transaction) fails the
    :meth:`flush` or :meth:`commit` that sent it, not its ``produce``; from then on every
    call but :meth:`rollback` raises that error again, as no commit could be whole.

    It stays active until a commit or rollback *succeeds*, so a failed commit can still be
    rolled back.
    """

    def __init__(self, client: "FlyMQClient", txn_id: str, *, begun: bool = True):
        self._client = client
        # bound once: produce() is the per-record path (a third of its time went to lookups)
        self._checked_value = client._checked_value
        self._now_ms = client.clock.now_ms
        self._txn_id = txn_id
        self._active = True
        self._begun = begun          # the broker knows the transaction
        self._pending: list[tuple[str, bytes]] = []   # (topic, value) not yet sent
        self._pending_bytes = 0
        self._sent_at = self._now_ms()   # client clock (ms) of the last call to the broker
        self._failed: BaseException | None = None      # a send of records that failed

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
        if self._failed is not None:
            raise self._failed

    def produce(self, topic: str, data: bytes | str) -> RecordMetadata:
        """Buffer a record; the metadata is upstream's placeholder (partition 0, offset 0):
        offsets are assigned at commit."""
        if self._failed is not None or not self._active:
            self._check_active()
        value = self._checked_value(topic, data)   # too large: refused here, at once
        now = self._now_ms()
        pending = self._pending
        pending.append((topic, value))
        self._pending_bytes += len(value)
        if self._pending_bytes >= FLUSH_BYTES or len(pending) >= FLUSH_RECORDS or \
                now - self._sent_at >= FLUSH_AGE_MS:
            self._send(commit=False)
        return RecordMetadata(topic, 0, 0, now, -1, len(value))

    def flush(self) -> None:
        """[ext] Send the buffered records to the broker now, beginning the transaction
        there if it was not yet (their errors raise here)."""
        self._check_active()
        if self._pending or not self._begun:
            self._send(commit=False)

    def _send(self, commit: bool) -> None:
        records, self._pending, self._pending_bytes = self._pending, [], 0
        self._sent_at = self._now_ms()
        try:
            self._client.produce_transactional_batch(self._txn_id, records, commit=commit,
                                                     begin=not self._begun)
        except BaseException as exc:
            self._failed = exc
            raise
        self._begun = True

    def send_offsets_to_transaction(self, offsets: Mapping[tuple[str, int], int]
                                    | Iterable[tuple[str, int, int]], group_id: str) -> None:
        """[ext] Commit ``{(topic, partition): next offset}`` for consumer group ``group_id``
        with this transaction: both or neither (consume-transform-produce exactly once)."""
        if self._begun:
            self._check_active()
        else:
            self.flush()      # the broker must know the transaction the offsets join
        self._client.send_offsets_to_transaction(self._txn_id, group_id, offsets)

    def commit(self) -> None:
        self._check_active()
        if self._pending:
            self._send(commit=True)
        elif self._begun:
            self._client.commit_transaction(self._txn_id)
        self._active = False          # never begun: nothing to commit

    def rollback(self) -> None:
        if not self._active:
            raise TransactionNotActiveError()
        if self._begun:
            self._client.abort_transaction(self._txn_id)
        elif self._failed is not None:    # its first send failed: begun there, or not
            try:
                self._client.abort_transaction(self._txn_id)
            except TransactionNotActiveError:
                pass
        self._pending, self._pending_bytes, self._active = [], 0, False
