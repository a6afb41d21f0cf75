"""``describe_topic`` over TCP: DESCRIBE_TOPIC where the server announces it, and offsets
only (no sizes, no config) from an upstream server."""

from __future__ import annotations

import pytest

from flymq import errors
from flymq.protocol import Op

from .fake_server import upstream_topics


def test_upstream_server_tells_offsets_only(make) -> None:
    srv, t = make(upstream_topics({"orders": [(0, 3), (2, 7)]}), flymq=False)
    assert t.describe_topic("orders") == {"name": "orders", "config": None, "partitions": [
        {"partition": 0, "start_offset": 0, "end_offset": 3, "size_bytes": None},
        {"partition": 1, "start_offset": 2, "end_offset": 7, "size_bytes": None}]}
    assert Op.DESCRIBE_TOPIC not in srv.ops_of(1)
    with pytest.raises(errors.TopicNotFoundError):
        t.describe_topic("nope")
