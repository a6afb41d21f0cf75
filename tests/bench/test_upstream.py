"""The upstream Go broker and Go benchmark in the bench tool: output parsing, paired ratios,
the skip when ../shared/upstream is absent, and the Go broker driven by flymq's client."""

from __future__ import annotations

import copy

import pytest

from tools.bench.go_benchmark import parse_results
from tools.bench.peers import flymq_go
from tools.bench.procs import Unavailable
from tools.bench.progress import Progress
from tools.bench.registry import Context
from tools.bench.results import Results
from tools.bench.runner import load_scenarios, run_scenarios
from tools.bench.scenarios.b1_upstream import GO, RATIO, report, summaries
from tools.bench.verify import Checksum, VerificationError, make_payloads

pytestmark = pytest.mark.timeout(30)


def _row(size: int, count: int, workers: int, seconds: float) -> dict:
    """One test as the Go benchmark's JSON holds it (its MB are MiB)."""
    return {"system": "FlyMQ", "mode": "standalone", "name": f"{size}B x {count}",
            "message_size_bytes": size, "message_count": count, "duration_seconds": seconds,
            "throughput_msgs_per_sec": count / seconds,
            "throughput_mb_per_sec": count * size / seconds / 2**20,
            "latency_p50_ms": 0.06, "latency_p95_ms": 0.1, "latency_p99_ms": 0.2,
            "latency_avg_ms": 0.07, "errors": 0, "concurrency": workers, "success": True,
            "messages_verified": count, "verification_ok": True, "memory_mb": 2.0}


QUICK = {"timestamp": "t", "hardware": {}, "warmup_runs": 2, "total_time_seconds": 1.0,
         "results": [_row(1024, 2000, 1, 0.2), _row(1024, 5000, 8, 0.25)]}


def _ctx(tmp_path) -> Context:
    return Context(results=Results(machine={}, settings={}), progress=Progress(enabled=False),
                   out=tmp_path, quick=True, rounds=1, fsync_modes=("interval",),
                   scenario="b1-upstream")


def test_parse_results_reads_each_test_with_mb_as_10_to_the_6():
    first, second = parse_results(QUICK, quick=True)
    assert (first.number, first.size, first.count, first.workers) == (1, 1024, 2000, 1)
    assert first.label == "test 1: 1 KiB × 2,000 × 1w"
    assert first.metrics["msgs/s"] == pytest.approx(10_000)
    assert first.metrics["MB/s"] == pytest.approx(10.24)
    assert first.metrics["p99 ms"] == 0.2 and second.label.endswith("× 5,000 × 8w")


@pytest.mark.parametrize("field, value", [("verification_ok", False), ("errors", 3),
                                          ("messages_verified", 1999), ("success", False)])
def test_parse_results_fails_a_test_that_did_not_verify(field, value):
    data = copy.deepcopy(QUICK)
    data["results"][0][field] = value
    with pytest.raises(VerificationError, match="test 1"):
        parse_results(data, quick=True)


def test_parse_results_fails_a_run_with_a_missing_test():
    with pytest.raises(VerificationError, match="reported 2 tests, expected 8"):
        parse_results(QUICK, quick=False)


def test_report_gives_paired_ratios_and_the_go_brokers_defaults(tmp_path):
    ctx = _ctx(tmp_path)
    go = [parse_results(QUICK, True), parse_results(QUICK, True)]
    slower = copy.deepcopy(QUICK)
    for row in slower["results"]:
        row["duration_seconds"] *= 2          # flymq at half the Go broker's rate ...
    faster = copy.deepcopy(QUICK)
    faster["results"][0]["duration_seconds"] /= 2   # ... then test 1 at twice its rate
    ours = [parse_results(slower, True), parse_results(faster, True)]
    report(ctx, {GO: go, "flymq serve, fsync=interval": ours}, {GO: "acks before writing"})
    rows = {f.row: f for f in ctx.results.figures}
    test1 = rows["test 1: 1 KiB × 2,000 × 1w — flymq serve, fsync=interval"]
    assert test1.metrics[RATIO].samples == [pytest.approx(0.5), pytest.approx(2.0)]
    assert RATIO not in rows["test 1: 1 KiB × 2,000 × 1w — Go broker"].metrics
    mean = rows["mean of the 2 per-test msgs/s — flymq serve, fsync=interval"]
    assert mean.metrics[RATIO].samples[0] == pytest.approx(0.5)
    assert rows["mean of the 2 per-test msgs/s — Go broker"].note == "acks before writing"
    assert summaries(go[0])["total"] == pytest.approx(7000 / 0.45)


def test_skips_saying_why_when_upstream_is_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(flymq_go, "UPSTREAM_DIR", tmp_path / "absent")
    load_scenarios()
    ctx = _ctx(tmp_path)
    assert run_scenarios(ctx, ["b1-upstream"]) is True
    assert ctx.results.figures == []
    assert "absent" in ctx.results.skips[0].reason
    with pytest.raises(Unavailable, match="absent"):
        flymq_go.upstream_program("benchmark")


def test_durability_note_reads_the_go_brokers_log():
    log = ('{"msg":"Starting FlyMQ"}\nnot json\n{"acks":"leader","async_io":true,'
           '"sync_interval_ms":5,"msg":"Performance configuration","zero_copy":true}\n')
    note = flymq_go.durability_note(log)
    assert 'acks="leader", async_io=true, sync_interval_ms=5' in note
    assert "zero_copy" not in note
    assert flymq_go.durability_note("") == "Go broker defaults not found in its log"


def test_go_broker_round_trip_through_flymqs_client(tmp_path):
    """The B2 peer: create, one produce per request and pipelined, then read back."""
    try:
        flymq_go.upstream_program("flymq")
    except Unavailable as exc:
        pytest.skip(str(exc))
    payloads = make_payloads(5, 40, 100)
    with flymq_go.go_broker(tmp_path) as broker:
        assert "acks=" in broker.durability
        broker.create("t", 3)
        sender = broker.sender("t", 3)
        try:
            assert len(sender.send_each(payloads[:10])) == 10
            sender.send_batched(payloads[10:], 15)
        finally:
            sender.close()
        assert broker.read_back("t", 3) == Checksum.of(payloads)
