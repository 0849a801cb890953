"""`harness compare BASE HEAD` at scale: a 100-case BASE against an N-case HEAD.

Both runs are synthesised (bench_reports.py's `synthesise`) from the records of a 100-case
echo run (an echo agent, `harness run`): every 10th case fails its first check, so HEAD has
about N / 10 new failures. Each round runs `python -m harness compare BASE HEAD --out FILE` in
a fresh process per checkout (its bytecode cache on) and records the wall clock, the child's
CPU seconds and peak memory, and the size of the Markdown. `--before PATH` times another
checkout (e.g. an older commit unpacked with `git archive`), interleaved round by round.
Issue 16: a compare of a 100,000-case run stays linear, and its Markdown well under GitHub's
1 MiB step-summary limit.

    python benchmarks/bench_compare.py [--scale 5000] [--rounds 5] [--before PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reports import make_run, synthesise
from bench_run import ROOT


def one(root: Path, base: Path, head: Path, out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "compare", str(base), str(head), "--out", str(out)],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    assert code == 1, f"{root}: compare exited {code}, expected 1 (new failures)"
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "md_kb": out.stat().st_size / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        source = make_run(tmp, 100)
        base = synthesise(source, 100, tmp / "base-100")
        head = synthesise(source, args.scale, tmp / f"head-{args.scale}")
        roots = {"now": ROOT} | ({"before": args.before} if args.before else {})
        got: dict[str, list[dict[str, float]]] = {k: [] for k in roots}
        for _ in range(args.rounds):
            for label, root in reversed(roots.items()):
                got[label].append(one(root, base, head, tmp / "compare.md"))
        print(f"compare 100 -> {args.scale} cases, {args.rounds} interleaved rounds, medians")
        for label, rounds in got.items():
            med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            print(
                f"  {label:6}  wall {med['wall']:.2f} s  cpu {med['cpu']:.2f} s  "
                f"peak rss {med['rss_mb']:.0f} MB  markdown {med['md_kb']:.0f} KB"
            )
        if "before" in got:
            ratio = statistics.median(r["cpu"] for r in got["before"]) / statistics.median(
                r["cpu"] for r in got["now"]
            )
            print(f"  cpu before / now: {ratio:.1f}x")


if __name__ == "__main__":
    main()
