"""flymq: an embeddable pure-Python message broker and a pyflymq-compatible client.

``import flymq`` needs only the runtime dependencies. The broker, the producers and the protocol
enum load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from flymq import errors as _errors
from flymq.client import (
    ClientConfig, Consumer, ConsumerConfig, ConsumerGroup, FlyMQClient, HighLevelConsumer,
    ProducerConfig, TLSConfig, Transaction, connect,
)
from flymq.errors import *  # noqa: F401,F403 - re-exported; the names are listed below
from flymq.lazy_list import LazyList
from flymq.message_list import MessageList
from flymq.models import (
    AckMode, AuditEvent, AuditEventType, AuditQueryFilter, AuditQueryResult, AuthResponse,
    ClusterInfo, ClusterMetadata, Compatibility, ConsumedMessage, ConsumerGroupInfo, DLQMessage,
    FetchResult, NodeInfo, PartitionInfo, ProduceResult, RecordMetadata, RecordMetadataList,
    Response, SchemaInfo, SchemaType, SubscribeMode, TopicMetadata, TopicPartitionInfo,
    TransactionInfo, TransactionState, WhoAmIResponse,
)

__version__ = "0.1.0"
__author__ = "flymq contributors"
__license__ = "Apache-2.0"

# Exceptions at top level: all of flymq.errors except the builtin-shadowing TimeoutError
# (import it from flymq.errors / pyflymq.exceptions) and the protocol-level frame errors.
_EXCEPTIONS = [n for n in _errors.__all__ if n not in {
    "TimeoutError", "ProtocolError", "InvalidMagicError", "InvalidVersionError",
    "FrameTooLargeError", "error_from_wire", "wire_text"}]

__all__ = [
    "connect", "FlyMQClient", "HighLevelConsumer", "Consumer", "ConsumerGroup", "Transaction",
    "ClientConfig", "ProducerConfig", "ConsumerConfig", "TLSConfig",
    "RecordMetadata", "RecordMetadataList", "ConsumedMessage", "FetchResult", "MessageList",
    "LazyList", "TopicMetadata", "ProduceResult", "DLQMessage", "AuthResponse", "WhoAmIResponse", "PartitionInfo", "ClusterMetadata",
    "TopicPartitionInfo", "Response", "ConsumerGroupInfo", "SchemaInfo", "ClusterInfo",
    "NodeInfo", "TransactionInfo", "AuditEvent", "AuditQueryFilter", "AuditQueryResult",
    "SubscribeMode", "AckMode", "SchemaType", "Compatibility", "TransactionState",
    "AuditEventType", "__version__", *_EXCEPTIONS,
]

# name -> module that defines it, imported on first access
_LAZY = {
    "Broker": "flymq.broker",
    "BrokerConfig": "flymq.broker.config",
    "Producer": "flymq.client.producer",
    "AsyncProducer": "flymq.client.producer",
    "HighLevelProducer": "flymq.client.producer",
    "ProduceFuture": "flymq.client.producer",
}

# upstream pyflymq names flymq does not implement yet: name -> pyflymq module that has it
_NOT_IMPLEMENTED = {
    "Encryptor": "crypto", "generate_key": "crypto", "validate_key": "crypto",
    "ReactiveConsumer": "reactive", "ReactiveProducer": "reactive",
    "AsyncReactiveConsumer": "reactive", "from_consumer": "reactive", "to_producer": "reactive",
}


def not_implemented(module: str, name: str = "") -> str:
    """What to say about a name of upstream pyflymq's ``module`` (crypto, reactive) that
    flymq does not implement: no extra or install provides it."""
    what = f"{name} (pyflymq.{module})" if name else f"pyflymq.{module}"
    return (f"{what} is not implemented by flymq yet; no install or extra provides it. "
            f"Use the consumers and producers of flymq.FlyMQClient instead.")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "OpCode":
        return importlib.import_module("flymq.protocol.opcodes").Op
    if name in _NOT_IMPLEMENTED:  # AttributeError, so hasattr() answers False
        raise AttributeError(not_implemented(_NOT_IMPLEMENTED[name], name))
    raise AttributeError(f"module 'flymq' has no attribute {name!r}")
