"""Fair peers (hiredis, redis-benchmark's figures), the ratio table that leads the report, and
the start-up figures next to the interpreter's own start."""

from __future__ import annotations

import json

import pytest

from tools.bench import report
from tools.bench.peers import redis_streams
from tools.bench.procs import Unavailable
from tools.bench.progress import Progress
from tools.bench.registry import Context
from tools.bench.results import Results, Stat

pytestmark = pytest.mark.timeout(30)

MACHINE = {"cpu": "c", "cores": 2, "memory_gib": 1, "os": "o", "distro": "d",
           "implementation": "CPython", "python": "3", "git_commit": "abc"}
SETTINGS = {"command": "x", "started": "now", "rounds": 2, "fsync_modes": ["never", "interval"]}
CSV = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
       '"p99_latency_ms","max_latency_ms"\n'
       '"XADD s * v xxxx","25000.00","0.033","0.016","0.023","0.031","0.071","8.391"\n')


def _ctx(tmp_path, fsync_modes=("never", "interval")) -> Context:
    return Context(results=Results(machine=MACHINE, settings=SETTINGS),
                   progress=Progress(enabled=False), out=tmp_path, fsync_modes=fsync_modes,
                   scenario="b9")


def test_redis_benchmark_csv_gives_rate_mb_and_per_request_latency():
    single = redis_streams.native_metrics(CSV, 1000, 1024, batch=0)
    assert single["msgs/s"] == pytest.approx(25_000)
    assert single["MB/s"] == pytest.approx(25.6)
    assert (single["p50 ms"], single["p99 ms"]) == (0.023, 0.071)
    assert set(redis_streams.native_metrics(CSV, 1000, 1024, batch=1000)) == {"msgs/s", "MB/s"}


def test_redis_peer_refuses_to_run_without_hiredis(monkeypatch):
    utils = pytest.importorskip("redis.utils")
    monkeypatch.setattr(utils, "HIREDIS_AVAILABLE", False)
    with pytest.raises(Unavailable, match="pip install hiredis"):
        redis_streams._redis_module()


def test_headlines_lead_the_report_and_survive_json(tmp_path):
    ctx = _ctx(tmp_path)
    assert ctx.headline_fsync == "interval"
    assert _ctx(tmp_path, ("never",)).headline_fsync == "never"
    ctx.headline("upstream Go broker: B1 mean", Stat([0.5, 0.75, 1.0]), "10 vs 20 msgs/s")
    ctx.headline("Redis: batched produce", 1.6, "52,739 vs 32,882 msgs/s")
    ctx.headline("bare-file loop: fetch", None, "no figure")
    json_path, md_path = report.write(ctx.results, tmp_path)
    text = md_path.read_text()
    assert text.startswith("## The ratios that matter")
    assert text.index("The ratios that matter") < text.index("Machine:")
    assert "| upstream Go broker: B1 mean | 0.75× ±67% | 10 vs 20 msgs/s |" in text
    assert "| Redis: batched produce | 1.60× | 52,739 vs 32,882 msgs/s |" in text
    assert "| bare-file loop: fetch | – | no figure |" in text
    again = Results.from_json(json.loads(json_path.read_text()))
    assert again.headlines == ctx.results.headlines
    ctx.results.drop_scenario("b9")
    assert ctx.results.headlines == []


def test_start_up_round_times_flymq_above_the_interpreters_floor():
    pytest.importorskip("flymq.server")
    from tools.bench.scenarios.b5_startup import ABOVE, FLOOR, IMPORT, SERVE, start_up_round

    starts = start_up_round()
    floor = starts[FLOOR]["ms"]
    assert floor > 0 and set(starts) == {FLOOR, IMPORT, SERVE}
    for row in (IMPORT, SERVE):
        assert starts[row][ABOVE] == pytest.approx(starts[row]["ms"] - floor)


def test_growth_charts_need_a_rate_at_every_point(tmp_path):
    """B6 draws a line per table whose rows start with a number; the pending-delays table has
    no msgs/s (it crashed the report of a whole run)."""
    pytest.importorskip("matplotlib")
    ctx = _ctx(tmp_path)
    ctx.scenario = "b6"
    for n in (10, 100):
        ctx.figure("partitions", f"{n} partitions", {"msgs/s": Stat([n * 1.0])})
        ctx.figure("pending delays", f"{n} pending", {"RSS growth MiB": Stat([n * 1.0])})
    made = report.charts(ctx.results, tmp_path / "img")
    assert [title for title, _ in made] == ["B6 partitions"]
