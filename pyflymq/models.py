"""``pyflymq.models`` (and ``pyflymq.types``): flymq's models and configs under one path.

Upstream keeps two parallel model sets here; flymq has one class per name.
"""

from flymq.client.config import ClientConfig, ConsumerConfig, ProducerConfig, TLSConfig  # noqa: F401
from flymq.models import (  # noqa: F401
    AckMode, AuditEvent, AuditEventType, AuditQueryFilter, AuditQueryResult, AuthResponse,
    ClusterInfo, ClusterMetadata, Compatibility, ConsumedMessage, ConsumerGroupInfo,
    ConsumerGroupOffset, ConsumerLag, DLQMessage, FetchResult, NodeInfo, PartitionInfo,
    ProduceResult, RecordMetadata, Response, SchemaInfo, SchemaType, SubscribeMode,
    TopicMetadata, TopicPartitionInfo, TransactionInfo, TransactionState, WhoAmIResponse,
)
