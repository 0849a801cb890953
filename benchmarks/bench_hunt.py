"""Cases needed to find each planted defect: `harness hunt` beside a plain random generator.

For each defect, the demo agent runs with only that defect on, and the scenario
that can reveal it is searched twice with the same time budget, in this one run:
by `harness hunt` (spec boundaries, number formats, text traps, hard-name pools,
hypothesis search) and by the plain baseline (`--plain`: the same scenario with
plain random values, no boundaries, formats, traps or pools). Printed: the
cases of that scenario each needed before the defect first showed, and the
ratio. Each search works on its own copy of the suite, so nothing is saved into
the repository.

    python benchmarks/bench_hunt.py [--budget 15] [--seeds 5] [--defect NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.core.events import ignore  # noqa: E402
from harness.deps.options import DepsOptions  # noqa: E402
from harness.modes.hunt import HuntDriver, HuntOptions  # noqa: E402
from harness.session import run_session  # noqa: E402

# defect -> (scenario that can reveal it, requirement it breaks)
DEFECTS = {
    "comma_decimal": ("gen-amount-formats", "RD-004"),
    "diacritics": ("gen-names", "RD-005"),
    "window_off_by_one": ("gen-window-edge", "RD-003"),
    "window_from_order_date": ("gen-window-edge", "RD-003"),
    "payout_cutoff_buffer": ("gen-payout-cutoff-edge", "RD-012"),
}
# The demo's other planted defects need no search: compliance_bypass, verification_drift
# and false_confirmation fail the suite's fixed scenarios on their first case (`harness
# run`), refund_race shows only under load (benchmarks/bench_load.py, `harness load`) and
# flaky_misread only over repeated trials (`harness run --trials`).


def fresh_suite(tmp: Path) -> Path:
    suite = tmp / "scenarios" / "refund_desk"
    shutil.copytree(
        ROOT / "scenarios" / "refund_desk",
        suite,
        ignore=shutil.ignore_patterns("regressions", ".hypothesis"),
    )
    shutil.copytree(ROOT / "fixtures" / "refund_desk", tmp / "fixtures" / "refund_desk")
    shutil.copy(ROOT / "fixtures" / "__init__.py", tmp / "fixtures" / "__init__.py")
    return suite


def search(defect: str, plain: bool, budget: float, seed: int) -> tuple[int | None, int]:
    """(cases until the defect first showed, or None; cases tried in all)."""
    scenario, requirement = DEFECTS[defect]
    os.environ["REFUND_DESK_DEFECTS"] = defect
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # the demo agent is started as `python -m fixtures...` from the copy
        try:
            suite = fresh_suite(Path(tmp))
            options = HuntOptions(
                suite=suite,
                budget=budget,
                select=(scenario,),
                deps=DepsOptions(mode="embedded"),
                reports_dir=Path(tmp) / "reports",
                plain=plain,
                seed=seed,
            )
            driver = HuntDriver(options)
            asyncio.run(run_session(driver, ignore))
        finally:
            os.chdir(cwd)
    hunter = driver.hunter
    assert hunter is not None
    hits = [f.tried for f in hunter.found if f.requirement == requirement]
    return (min(hits) if hits else None), hunter.tried


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per search")
    parser.add_argument("--seeds", type=int, default=5, help="searches per defect and method")
    parser.add_argument(
        "--defect", action="append", choices=list(DEFECTS), help="only these (repeatable)"
    )
    args = parser.parse_args()
    print(
        f"cases needed to find each planted defect: median of {args.seeds} seeds, "
        f"{args.budget:g} s per search ('>N': not found in N cases)"
    )
    print(
        f"{'defect':20} {'hunt':>12} {'plain random':>14} {'plain/hunt':>12}   "
        "per seed (hunt | plain)"
    )
    for defect in args.defect or DEFECTS:
        runs = {True: [], False: []}
        for seed in range(1, args.seeds + 1):
            for plain in (False, True):
                hit, tried = search(defect, plain=plain, budget=args.budget, seed=seed)
                # a search that did not find it needed more than everything it tried
                runs[plain].append((hit, tried))
        hunt = _median([h if h is not None else t + 1 for h, t in runs[False]])
        plain = _median([h if h is not None else t + 1 for h, t in runs[True]])
        # a search that found nothing counts as (cases it tried + 1): a lower bound
        plain_text = f"{'>=' if any(h is None for h, _ in runs[True]) else ''}{plain:.0f}"
        detail = " ".join(str(h) if h is not None else f">{t}" for h, t in runs[False])
        detail += " | " + " ".join(str(h) if h is not None else f">{t}" for h, t in runs[True])
        bound = ">=" if plain_text.startswith(">=") else ""
        ratio = f"{bound}{plain / hunt:.1f}x"
        print(f"{defect:20} {hunt:>12.0f} {plain_text:>14} {ratio:>12}   {detail}")


if __name__ == "__main__":
    main()
