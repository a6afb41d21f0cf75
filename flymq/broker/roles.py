"""The built-in roles of FlyMQ's authorization model (wire-protocol.md §7.14, §6.9).

The role set is fixed upstream; ROLE_LIST reports it even when authentication is disabled.
"""

from __future__ import annotations

from typing import NamedTuple


class Role(NamedTuple):
    name: str
    permissions: tuple[str, ...]
    description: str


ROLES: tuple[Role, ...] = (
    Role("admin", ("read", "write", "admin"), "Full access to all operations"),
    Role("producer", ("write",), "Write-only access (produce messages)"),
    Role("consumer", ("read",), "Read-only access (consume messages)"),
    Role("guest", (), "Access to public topics only"),
)
