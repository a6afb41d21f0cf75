"""The flymq client: ``FlyMQClient`` over TCP or an embedded broker, and its helpers."""

from __future__ import annotations

import importlib
from typing import Any

from flymq.client.client import FlyMQClient, connect
from flymq.client.config import ClientConfig, ConsumerConfig, ProducerConfig, TLSConfig
from flymq.client.consumer import Consumer, ConsumerGroup, HighLevelConsumer
from flymq.client.transaction import Transaction
from flymq.models import RecordMetadata

__all__ = [
    "FlyMQClient", "connect", "ClientConfig", "ConsumerConfig", "ProducerConfig", "TLSConfig",
    "Consumer", "ConsumerGroup", "HighLevelConsumer", "Transaction", "RecordMetadata",
]

_PRODUCER_NAMES = ("Producer", "AsyncProducer", "HighLevelProducer", "ProduceFuture")


def __getattr__(name: str) -> Any:
    # producers import lazily: they are optional for everything else in the client
    if name in _PRODUCER_NAMES:
        return getattr(importlib.import_module("flymq.client.producer"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
