"""``pyflymq.tls``: ``TLSConfig``."""

from flymq.client.config import TLSConfig  # noqa: F401
