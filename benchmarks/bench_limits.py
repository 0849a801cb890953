"""Seconds and memory to refuse an oversized suite file, beside validating the same suite
without it, in this one run.

A 25 MB scenario file (generated: many small scenarios) is put in a copy of the echo suite;
`harness validate` must refuse it before parsing it (issue 12: it took 30 s and 1.5 GiB).
Both commands run R interleaved rounds in subprocesses; the medians of wall time and peak
memory (ru_maxrss of the child) are printed with their ratio. Target: under 2 s, and a ratio
near 1 (refusing costs what loading the small suite costs).

    python benchmarks/bench_limits.py [--megabytes 25] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = (
    '  - {id: s%d, title: t, turns: ["hi"], '
    "checks: [{type: contains, value: x, requirements: [EC-001]}]}\n"
)


def _validate(suite: Path) -> tuple[float, float, int]:
    """Wall seconds, the child's peak memory in MiB, its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(suite)],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        shutil.copytree(ROOT / "tests" / "suites" / "echo", small)
        big = Path(tmp) / "big"
        shutil.copytree(small, big)
        with (big / "scenarios" / "generated.yaml").open("w") as f:
            f.write("scenarios:\n")
            n = 0
            while f.tell() < args.megabytes * 1_000_000:
                f.write(ENTRY % n)
                n += 1
        runs: dict[str, list[tuple[float, float, int]]] = {"small": [], "big": []}
        for _ in range(args.rounds):
            runs["small"].append(_validate(small))
            runs["big"].append(_validate(big))
    assert all(code == 0 for _, _, code in runs["small"]), runs["small"]
    assert all(code == 2 for _, _, code in runs["big"]), runs["big"]
    small_s = statistics.median(s for s, _, _ in runs["small"])
    big_s = statistics.median(s for s, _, _ in runs["big"])
    # ru_maxrss of children is the largest child so far: the big run's peak bounds both
    peak = max(m for _, m, _ in runs["big"])
    print(f"validate, echo suite:            {small_s:.2f} s")
    print(f"validate, + {args.megabytes} MB scenario file: {big_s:.2f} s (refused, exit 2)")
    print(f"ratio: {big_s / small_s:.2f}  (target: near 1, and under 2 s)")
    print(f"largest child's peak memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
