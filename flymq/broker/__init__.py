"""The broker core: an embeddable FlyMQ broker over a data directory.

``Broker`` is the facade both front doors call; ``BrokerConfig`` and ``TopicConfig`` hold its
settings.
"""

from flymq.broker.broker import Broker
from flymq.broker.config import BrokerConfig, TopicConfig

__all__ = ["Broker", "BrokerConfig", "TopicConfig"]
