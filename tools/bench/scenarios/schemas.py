"""Schema registry: validated produce, embedded (issue 14).

``produce_with_schema`` of a 10-field JSON object against plain ``produce`` of the same bytes
in the same round (the ratio is the cost of validation), and ``produce_batch`` to a topic
bound to the schema, where every record is validated on the append path.
"""

from __future__ import annotations

import json
import time

from tools.bench.flymq_target import need, open_broker
from tools.bench.procs import TempDir
from tools.bench.registry import Context, scenario
from tools.bench.results import Stat, Target
from tools.bench.stats import throughput
from tools.bench.verify import VerificationError

BATCH = 1_000
SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer", "minimum": 0},
        "customer": {"type": "string", "minLength": 1, "maxLength": 64},
        "email": {"type": "string", "format": "email"},
        "sku": {"type": "string", "pattern": "^SKU-[0-9]+$"},
        "quantity": {"type": "integer", "minimum": 1},
        "price": {"type": "number", "minimum": 0},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "gift": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "required": ["order_id", "customer", "email", "sku", "quantity", "price", "currency",
                 "gift", "note", "created_at"],
    "additionalProperties": False,
}
TARGETS = {
    "produce_with_schema": [Target("msgs/s", ">=", 50_000, "issue 14")],
    "batch produce to a bound topic": [Target("msgs/s", ">=", 200_000, "issue 14")],
}


def ten_field_objects(count: int) -> list[bytes]:
    """Distinct valid records (each its own id, customer and price), about 250 bytes."""
    return [json.dumps({
        "order_id": i, "customer": f"customer-{i % 977}", "email": f"c{i % 977}@example.com",
        "sku": f"SKU-{i % 5000}", "quantity": 1 + i % 9, "price": round(1 + (i % 10_000) / 7, 2),
        "currency": ("EUR", "USD", "GBP")[i % 3], "gift": i % 2 == 0,
        "note": None if i % 4 else f"note {i}", "created_at": "2026-12-07T06:00:00Z",
    }, separators=(",", ":")).encode() for i in range(count)]


def one_round(values: list[bytes], fsync: str) -> dict[str, dict[str, float]]:
    topic_config = need("flymq.topic_config", "TopicConfig")
    n, size = len(values), len(values[0])
    with TempDir("schemas") as tmp:
        broker = open_broker(tmp / "data", fsync)
        try:
            client = broker.client()
            client.register_schema("order", "json", SCHEMA)
            broker.create_topic("bound", 1, config=topic_config(schema="order"))
            produce, with_schema = client.produce, client.produce_with_schema
            t0 = time.perf_counter()
            for v in values:
                produce("plain", v)
            t1 = time.perf_counter()
            for v in values:
                with_schema("validated", v, "order")
            t2 = time.perf_counter()
            produce_batch = broker.produce_batch
            for i in range(0, n, BATCH):
                produce_batch("bound", [(None, v, 0) for v in values[i:i + BATCH]])
            t3 = time.perf_counter()
            for topic in ("plain", "validated", "bound"):
                if broker.offsets(topic, 0)[1] != n:
                    raise VerificationError(f"{topic}: {broker.offsets(topic, 0)[1]} of {n} "
                                            "records stored")
            client.close()
        finally:
            broker.close()
    plain = throughput(n, size, t1 - t0)
    validated = throughput(n, size, t2 - t1)
    return {"plain produce (same bytes)": plain, "produce_with_schema": validated,
            "ratio": {"x plain": validated["msgs/s"] / plain["msgs/s"]},
            "batch produce to a bound topic": throughput(n, size, t3 - t2)}


@scenario("schemas", "validated produce: produce_with_schema and a bound topic, embedded",
          lambda ctx: len(ctx.fsync_modes))
def schemas(ctx: Context) -> None:
    count = ctx.count(200_000, 20_000)
    values = ten_field_objects(count)
    for fsync in ctx.fsync_modes:
        one_round(values[:BATCH * 5], fsync)   # warm-up: imports, first compile, page cache
        rounds = [one_round(values, fsync) for _ in range(ctx.rounds)]
        table = f"fsync={fsync}, 10-field JSON ({len(values[0])} B) × {count:,}"
        for row in rounds[0]:
            ctx.figure(table, row, Stat.collect([r[row] for r in rounds]),
                       TARGETS.get(row, []),
                       note="validated / plain msgs/s of the same round" if row == "ratio"
                       else "")
        ctx.progress.step(f"fsync={fsync}")
