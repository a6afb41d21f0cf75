"""The TCP front door, outside the broker core: decode a request, call the broker through the
connection's session, encode the result or error (docs/architecture.md).

``listener`` and ``connection`` are protocol-independent (a later front door reuses them with
its own wire protocol); ``flymq_v1``, ``ops`` and ``handlers`` are FlyMQ protocol v1.
"""

from flymq.server.config import ServerConfig
from flymq.server.listener import loop_factory
from flymq.server.server import Server

__all__ = ["Server", "ServerConfig", "loop_factory"]
