"""Smoke tests of the benchmark framework (tiny counts; no redis or nats needed)."""

from __future__ import annotations

import json

import pytest

from tools.bench import report
from tools.bench.cli import main
from tools.bench.peers import flatten_payloads
from tools.bench.peers.bare_file import BareFile
from tools.bench.procs import Unavailable
from tools.bench.progress import Progress
from tools.bench.registry import SCENARIOS, Context, Scenario
from tools.bench.results import Figure, Results, Stat, Target
from tools.bench.runner import load_scenarios, measure, run_scenarios
from tools.bench.stats import percentiles, throughput
from tools.bench.verify import (Checksum, VerificationError, expect_same, make_payload,
                                make_payloads, payload_seq)


def _ctx(tmp_path) -> Context:
    results = Results(machine={}, settings={})
    return Context(results=results, progress=Progress(enabled=False), out=tmp_path, quick=True,
                   rounds=2)


def test_payloads_are_unique_sized_and_numbered():
    payloads = make_payloads(7, 50, 100)
    assert len(set(payloads)) == 50
    assert all(len(p) == 100 for p in payloads)
    assert payload_seq(make_payload(7, 1234, 1024)) == 1234


def test_checksum_catches_loss_duplicate_and_corruption():
    payloads = make_payloads(1, 10, 100)
    good = Checksum.of(payloads)
    expect_same("same, reordered", good, Checksum.of(reversed(payloads)))
    for bad in (payloads[:-1], payloads + payloads[:1], payloads[:-1] + payloads[:1],
                payloads[:-1] + [payloads[-1][:-1] + b"X"]):
        with pytest.raises(VerificationError):
            expect_same("bad", good, Checksum.of(bad))


def test_stats_percentiles_and_targets():
    stat = Stat([10.0, 12.0, 11.0])
    assert stat.median == 11.0 and stat.spread_pct == pytest.approx(200 / 11)
    assert percentiles([1_000_000] * 99 + [9_000_000])["p50 ms"] == 1.0
    assert throughput(1000, 100, 0.5) == {"msgs/s": 2000.0, "MB/s": 0.2}
    assert Target("msgs/s", ">=", 5, "t").passes(5) and Target("ms", "<", 5, "t").passes(4)


def test_every_scenario_is_registered():
    assert {"b1", "b1-upstream", "b2", "b3", "b4", "b5", "b6", "storage"} <= set(load_scenarios())


def test_failed_verification_fails_the_run_and_drops_figures(tmp_path, monkeypatch):
    def broken(ctx: Context) -> None:
        ctx.figure("t", "row", measure(ctx, "x", lambda i: {"msgs/s": 1.0}))
        raise VerificationError("lost 1 message")

    def missing(ctx: Context) -> None:
        raise Unavailable("peer-server not found (apt-get install peer-server)")

    monkeypatch.setitem(SCENARIOS, "broken", Scenario("broken", "b", broken, lambda c: 1))
    monkeypatch.setitem(SCENARIOS, "missing", Scenario("missing", "m", missing, lambda c: 1))
    ctx = _ctx(tmp_path)
    assert run_scenarios(ctx, ["missing"]) is True
    assert "apt-get install" in ctx.results.skips[0].reason
    assert run_scenarios(ctx, ["broken"]) is False
    assert ctx.results.figures == [] and "lost 1 message" in ctx.results.failures["broken"]


def test_measure_runs_warmup_then_rounds(tmp_path):
    calls = []
    stats = measure(_ctx(tmp_path), "x", lambda i: calls.append(i) or {"v": float(i)})
    assert calls == [-1, 0, 1] and stats["v"].samples == [0.0, 1.0]


def test_reports_round_trip_and_show_ratios(tmp_path):
    results = Results(machine={"cpu": "c", "cores": 2, "memory_gib": 1, "os": "o",
                               "distro": "d", "implementation": "CPython", "python": "3",
                               "git_commit": "abc"},
                      settings={"command": "x", "started": "now", "rounds": 1,
                                "fsync_modes": ["never"]})
    ours = results.add(Figure("b2", "t", "flymq", {"msgs/s": Stat([200.0])},
                              [Target("msgs/s", ">=", 100, "issue 6")]))
    peer = results.add(Figure("b2", "t", "redis", {"msgs/s": Stat([100.0])}))
    peer.compare_to(ours, "msgs/s")
    results.skip("b2", "t", "nats", "nats-server not found")
    json_path, md_path = report.write(results, tmp_path)
    text = md_path.read_text()
    assert "2.00×" in text and "PASS" in text and "nats-server not found" in text
    again = Results.from_json(json.loads(json_path.read_text()))
    assert again.figures[1].ratio == 2.0


def test_bare_file_peer_round_trip(tmp_path):
    payloads = make_payloads(2, 300, 100)
    queue = BareFile(tmp_path, "interval")
    queue.put_each(payloads[:100])
    queue.put_batched(payloads[100:], 64)
    chunks = queue.drain()
    queue.close()
    expect_same("bare file", Checksum.of(payloads), Checksum.of(flatten_payloads(chunks)))


def test_flymq_embedded_round(tmp_path):
    pytest.importorskip("flymq.broker")
    from tools.bench.flymq_target import FlyMQEmbedded
    from tools.bench.scenarios.b3_embedded import one_round

    out = one_round(FlyMQEmbedded, make_payloads(3, 200, 100), "never")
    assert set(out) == {"single produce", "batch produce", "consume by batch fetch"}


def test_cli_lists_scenarios(capsys):
    assert main(["list"]) == 0
    assert "storage" in capsys.readouterr().out
