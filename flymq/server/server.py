"""The FlyMQ TCP server: a listener whose connections speak FlyMQ protocol v1."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flymq.server.config import ServerConfig
from flymq.server.flymq_v1 import FlyMQv1
from flymq.server.listener import Listener

if TYPE_CHECKING:
    from flymq.broker.broker import Broker


class Server(Listener):
    """A FlyMQ protocol v1 server in front of one :class:`Broker` (see :class:`Listener`
    for its lifecycle)."""

    def __init__(self, broker: "Broker", config: ServerConfig | None = None):
        super().__init__(broker, config, FlyMQv1)
