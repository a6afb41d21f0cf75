"""The segmented, append-only log every partition and internal log is stored in.

Byte layouts, durability policies and recovery are described in docs/storage-format.md,
including a recipe for measuring append, read and reopen throughput.
"""

from .batch import BatchRun, DecodedBatch
from .config import FsyncPolicy, LogConfig
from .flusher import Flusher
from .log import PartitionLog
from .record import LogRecord, Record

__all__ = ["PartitionLog", "LogConfig", "FsyncPolicy", "Record", "LogRecord", "Flusher",
           "BatchRun", "DecodedBatch"]
