"""Running scenarios: warm-up and rounds, failure handling, profiling, outputs."""

from __future__ import annotations

import cProfile
import importlib
import pkgutil
import pstats
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from tools.bench import scenarios as scenario_package
from tools.bench.procs import Unavailable
from tools.bench.registry import SCENARIOS, Context, Scenario
from tools.bench.results import Stat
from tools.bench.verify import VerificationError


def load_scenarios() -> dict[str, Scenario]:
    """Import every module of ``tools.bench.scenarios`` (each registers itself)."""
    for info in sorted(pkgutil.iter_modules(scenario_package.__path__), key=lambda m: m.name):
        importlib.import_module(f"{scenario_package.__name__}.{info.name}")
    return SCENARIOS


def measure(ctx: Context, label: str, once: Callable[[int], dict[str, float]],
            warmup: int = 1, rounds: int | None = None) -> dict[str, Stat]:
    """Run ``once(round)`` ``warmup`` times unrecorded, then ``rounds`` times recorded.

    ``once`` verifies its own data (raising :class:`VerificationError`) and returns metric
    values; the result maps each metric to its :class:`Stat` over the recorded rounds.
    """
    for i in range(warmup):
        once(-1 - i)
    recorded = [once(i) for i in range(rounds or ctx.rounds)]
    ctx.progress.step(label)
    return Stat.collect(recorded)


def _profiled(sc: Scenario, ctx: Context) -> None:
    """Run a scenario under pyinstrument when installed, else cProfile; write the report."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        profile = cProfile.Profile()
        profile.runcall(sc.run, ctx)
        path = ctx.out / f"profile-{sc.name}.txt"
        with open(path, "w") as out:
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
    else:
        profiler = Profiler()
        profiler.start()
        try:
            sc.run(ctx)
        finally:
            profiler.stop()
            path = ctx.out / f"profile-{sc.name}.html"
            path.write_text(profiler.output_html())
            (ctx.out / f"profile-{sc.name}.txt").write_text(profiler.output_text(color=False))
    ctx.progress.note(f"  profile written to {path}")


def run_scenarios(ctx: Context, names: Iterable[str], profile: bool = False) -> bool:
    """Run the named scenarios in order; returns False if any failed verification or broke."""
    ok = True
    for name in names:
        sc = SCENARIOS[name]
        ctx.scenario = name
        ctx.progress.start(f"{name}: {sc.title}", sc.steps(ctx))
        try:
            if profile:
                _profiled(sc, ctx)
            else:
                sc.run(ctx)
        except Unavailable as exc:
            ctx.skip(sc.title, "(whole scenario)", str(exc))
        except VerificationError as exc:
            ok = False
            ctx.results.drop_scenario(name)
            ctx.results.failures[name] = f"VERIFICATION FAILED: {exc}"
            ctx.progress.note(f"  {name}: VERIFICATION FAILED: {exc}")
        except Exception as exc:  # a broken run must be loud, never a number
            ok = False
            ctx.results.drop_scenario(name)
            ctx.results.failures[name] = f"{type(exc).__name__}: {exc}"
            ctx.progress.note(f"  {name}: ERROR\n{traceback.format_exc()}")
        finally:
            ctx.progress.close()
    return ok


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
