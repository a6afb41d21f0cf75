"""A session: one caller of the broker (a TCP connection, an embedded client) and what it owns.

Front doors hold one session per caller and call every broker operation through it, so that
who is asking is known in one place: an authorisation check, a quota or an audit record
attaches here, not in each front door. A session carries its principal and client id, and
owns its consumer-group memberships (and, with the transaction coordinator, its open
transactions); :meth:`Session.close` releases them when the caller goes away.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Sequence

from flymq.models import AuthResponse, RecordMetadata, WhoAmIResponse

if TYPE_CHECKING:
    from flymq.broker.broker import Broker
    from flymq.models import JoinResult

_ids = itertools.count(1)

#: Broker operations that need no identity. They are bound straight to the broker in each
#: session (an attribute read, no extra call on the hot paths); one that gains a check
#: becomes a method of :class:`Session` instead.
PASS_THROUGH = (
    "create_topic", "delete_topic", "list_topics", "topic_metadata", "partition_count",
    "describe_topic",
    "append", "produce", "produce_batch", "init_producer_id",
    "produce_with_ttl", "produce_delayed", "cancel_delayed", "list_delayed", "count_delayed",
    "dead_letter", "fetch_dlq", "replay_dlq", "re_inject_dlq", "purge_dlq",
    "register_schema", "get_schema", "describe_schema", "list_schemas", "validate_schema",
    "schema_errors", "check_schema", "delete_schema", "get_schema_compatibility",
    "set_schema_compatibility", "produce_with_schema",
    "consume", "fetch", "fetch_runs", "watch", "offsets", "offset_for_timestamp",
    "commit_offset", "get_committed_offset", "reset_offset", "get_lag",
    "list_consumer_groups", "describe_consumer_group", "delete_consumer_group",
    "fetch_group_offsets", "list_groups", "describe_group", "delete_group",
    "server_info",
)


class Session:
    """Made by :meth:`Broker.open_session`; thread-safe; ``close()`` is idempotent."""

    def __init__(self, broker: "Broker", principal: str | None = None, client_id: str = ""):
        self.broker = broker
        self.principal = principal
        """The authenticated user name, None before AUTH (authentication is not enforced)."""
        self.client_id = client_id
        """What the caller is: a TCP peer address, or a name the embedded client gives."""
        self.id = next(_ids)
        self.member_id = f"{client_id or 'session'}#{self.id}"
        """This session's member id in every consumer group it joins."""
        self.closed = False
        self._lock = threading.Lock()
        self._groups: set[tuple[str, str]] = set()    # (topic, group id) joined
        for name in PASS_THROUGH:
            setattr(self, name, getattr(broker, name))

    def __repr__(self) -> str:
        return f"<Session {self.member_id} user={self.principal!r}>"

    @property
    def features(self) -> frozenset[str]:
        """What the broker serves (see :mod:`flymq.features`)."""
        return self.broker.features

    # --- identity ---------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> AuthResponse:
        """Authentication is not enabled: accept any credentials and bind the name."""
        self.principal = username
        return AuthResponse(True, username=username)

    def whoami(self) -> WhoAmIResponse:
        return WhoAmIResponse(self.principal is not None, self.principal)

    # --- groups -----------------------------------------------------------------------------
    def subscribe(self, topic: str, group_id: str, partition: int = 0,
                  mode: str = "latest") -> int:
        """``Broker.subscribe`` as this session's member: a non-empty group gains it."""
        offset = self.broker.subscribe(topic, group_id, partition, mode,
                                       member=self.member_id if group_id else None)
        if group_id:
            with self._lock:
                self._groups.add((topic, group_id))
        return offset

    # --- transactions: each belongs to the session that began it ----------------------------
    def begin_transaction(self) -> str:
        return self.broker.begin_transaction(owner=self)

    def produce_transactional(self, txn_id: str, topic: str, value: bytes) -> RecordMetadata:
        return self.broker.produce_transactional(txn_id, topic, value, owner=self)

    def produce_transactional_batch(self, txn_id: str, records: Sequence[tuple[str, bytes]],
                                    commit: bool = False, begin: bool = False) -> None:
        self.broker.produce_transactional_batch(txn_id, records, commit=commit, begin=begin,
                                                owner=self)

    def send_offsets_to_transaction(self, txn_id: str, group_id: str,
                                    offsets: Sequence[tuple[str, int, int]]) -> None:
        self.broker.send_offsets_to_transaction(txn_id, group_id, offsets, owner=self)

    def commit_transaction(self, txn_id: str) -> None:
        self.broker.commit_transaction(txn_id, owner=self)

    def abort_transaction(self, txn_id: str) -> None:
        self.broker.abort_transaction(txn_id, owner=self)

    # --- the group membership protocol -------------------------------------------------------
    # A member belongs to the session that joined it (its owner is this session's member id):
    # only this session can act as it, and closing the session is the member's clean leave.
    def join_group(self, group_id: str, member_id: str = "", **member: object) -> "JoinResult":
        member["client_id"] = member.get("client_id") or self.client_id
        member["host"] = member.get("host") or self.client_id.rpartition(":")[0] or "local"
        result = self.broker.join_group(group_id, member_id, owner=self.member_id, **member)
        with self._lock:
            self._groups.add(("", group_id))   # every topic of the group: close() leaves it
        return result

    def sync_group(self, group_id: str, member_id: str, generation: int) -> list[tuple[str, int]]:
        return self.broker.sync_group(group_id, member_id, generation, owner=self.member_id)

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> None:
        self.broker.heartbeat(group_id, member_id, generation, owner=self.member_id)

    def leave_group(self, group_id: str, member_id: str) -> None:
        self.broker.leave_group(group_id, member_id, owner=self.member_id)

    def commit_group_offsets(self, group_id: str, offsets: "Sequence[tuple[str, int, int]]", *,
                             member_id: str = "", generation: int = -1) -> None:
        self.broker.commit_group_offsets(group_id, offsets, member_id=member_id,
                                         generation=generation, owner=self.member_id)

    # --- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """The caller went away: abort its open transactions, leave every group it joined."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            joined, self._groups = self._groups, set()
        self.broker.transactions_owner_left(self)
        if joined and not self.broker.closed:
            self.broker.member_left(self.member_id)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
