"""What a partition's readers need to know about transactions: where the stable prefix of the
log ends (the last stable offset) and which transactional data was aborted.

The transaction coordinator (:mod:`flymq.broker.transactions`) writes a transaction's records
to each partition as transactional batches under a producer id that no other transaction ever
gets. Before it appends, it registers the producer id here as *pending* with the log end
offset at that moment; readers then stop below it, so no reader sees data whose outcome is
not decided. Once the outcome is decided and the marker written, the entry goes: committed
data becomes readable where it stands, in offset order with everything else, and aborted data
is remembered in :attr:`PartitionTxns.aborted` (producer id -> first offset it may occupy),
so read-committed readers skip every transactional batch of that producer id.

Both maps are tiny: pending entries live only while a commit is in flight, and aborted
entries only arise from commits that failed after writing data or that a crash interrupted
(a rollback before commit has written nothing to any partition).
"""

from __future__ import annotations

from flymq.broker.storage import DecodedBatch


class PartitionTxns:
    """Transaction state of one partition; the coordinator changes it, readers read it."""

    __slots__ = ("pending", "aborted")

    def __init__(self) -> None:
        self.pending: dict[int, int] = {}   # producer id -> first offset its data may take
        self.aborted: dict[int, int] = {}   # producer id -> first offset of its aborted data

    def stable_end(self, log_end: int) -> int:
        """The last stable offset: readers see no offset at or past it. ``log_end`` must be
        read before this is called, so that data appended meanwhile (always registered as
        pending before it is appended) is either beyond ``log_end`` or bounded here."""
        pending = self.pending
        if not pending:
            return log_end
        return min(log_end, min(pending.values()))

    def hides(self, batch: DecodedBatch) -> bool:
        """Whether a read-committed reader skips the whole ``batch``: a commit/abort marker,
        or data of an aborted transaction. Callers test ``batch.control or
        batch.transactional`` first, so plain batches cost one attribute test."""
        return batch.control or (batch.transactional and batch.producer_id in self.aborted)
