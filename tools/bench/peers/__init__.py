"""What every system under test offers a scenario: networked streams and embedded queues.

flymq's own adapters (``tools.bench.flymq_target``) implement the same interfaces, so a
scenario runs one loop over flymq and its peers and the rows compare like with like.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from array import array
from collections.abc import Sequence

from tools.bench.procs import Unavailable
from tools.bench.verify import Checksum


class Sender(ABC):
    """One client connection producing to one stream."""

    @abstractmethod
    def send_each(self, payloads: Sequence[bytes]) -> array:
        """One request per message, waiting for each reply; returns latencies in ns."""

    @abstractmethod
    def send_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        """Pipelined/batched produce, ``batch`` messages per round trip, all acknowledged."""

    def close(self) -> None:
        """Release the connection."""


class StreamSystem(ABC):
    """A networked broker as B1/B2 see it; holds only addresses, so it pickles to workers."""

    name: str

    @abstractmethod
    def create(self, stream: str, partitions: int) -> None:
        """A fresh, empty stream/topic."""

    @abstractmethod
    def sender(self, stream: str, partitions: int) -> Sender:
        """A new connection producing to ``stream``."""

    @abstractmethod
    def read_back(self, stream: str, partitions: int) -> Checksum:
        """Consume everything in ``stream`` and checksum the payloads."""

    native_tool = ""
    """The load generator this system ships, if any (its figure is the system's ceiling)."""

    def native(self, stream: str, count: int, size: int, connections: int, batch: int
               ) -> dict[str, float]:
        """Produce ``count`` messages of ``size`` bytes into a fresh ``stream`` with
        :attr:`native_tool` (``batch`` per round trip, 0: one per request), verify they
        arrived, and return its metrics; :class:`~tools.bench.procs.Unavailable` when it
        cannot run here."""
        raise Unavailable(f"{self.name} ships no load generator of its own")


class EmbeddedQueue(ABC):
    """An in-process durable queue as B3 sees it."""

    name: str
    can_batch: bool = False
    max_count: int | None = None      # slow peers are measured on fewer messages

    @abstractmethod
    def put_each(self, payloads: Sequence[bytes]) -> None:
        """One call per message."""

    def put_batched(self, payloads: Sequence[bytes], batch: int) -> None:
        raise NotImplementedError(f"{self.name} has no batch produce")

    @abstractmethod
    def drain(self) -> list:
        """Consume everything; returns chunks (lists of payloads) to verify after timing."""

    @abstractmethod
    def close(self) -> None:
        """Close, flushing what the queue's durability mode requires."""


def flatten_payloads(chunks: list) -> list[bytes]:
    """Payload bytes from :meth:`EmbeddedQueue.drain` chunks (bytes or objects with .data)."""
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(m if isinstance(m, (bytes, bytearray, memoryview)) else m.data
                   for m in chunk)
    return [bytes(p) for p in out]

