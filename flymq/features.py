"""The optional features of a flymq broker, by name: the one list behind HELLO's feature list,
``FlyMQClient.supports()`` on both transports and the "not supported yet" answers."""

from __future__ import annotations

from flymq.errors import UnsupportedOperationError

#: Every feature name a client may ask about (``FlyMQClient.supports``).
KNOWN = ("delayed", "ttl", "schemas", "transactions", "dlq", "auth", "cluster", "idempotence",
         "groups")

#: What this flymq broker serves today; a coordinator adds its name here when it lands.
SERVED: frozenset[str] = frozenset({"idempotence", "transactions", "schemas", "groups",
                                    "delayed", "ttl", "dlq"})


def not_supported(feature: str) -> UnsupportedOperationError:
    """The error for a request of a feature the broker does not serve. The wire text names
    "this flymq server" (the TCP client shows it as is); embedded, the message names flymq
    and its version, and neither suggests an upgrade that does not exist."""
    from flymq import __version__

    return UnsupportedOperationError(
        f"{feature} is not supported yet by flymq {__version__}",
        wire=f"{feature} is not supported yet by this flymq server",
        hint=f"No flymq release implements {feature} yet; FlyMQClient.supports("
             f"{feature!r}) tells before a call.")
