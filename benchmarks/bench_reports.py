"""Reports of a run: the time `build_reports` takes for a run folder, and what it imports.

Each round, in a fresh process per checkout (its bytecode cache on), the reports of a copy of
the run folder are built twice, timed by the wall clock and in CPU seconds: the first call
(what `harness run` pays at its end: templates cached on disk, pyarrow (and before, pandas)
imported when the code needs them), then the second (warm). The import of the reports'
module is timed apart. The process also says whether pandas was imported. Without
`RUN_DIR`s, the 1,000-case echo run of bench_run.py's suite is made first (an echo agent,
`harness run`). `--before PATH` times another checkout (e.g. an older commit unpacked with
`git archive`), interleaved round by round (which goes first alternates). `--scale N` times a
run of N cases synthesised from the first run folder's records (repeated under new case ids,
every 10th case failing its first check) instead. Issue 16's targets: all reports of a
1,000-case run <= 0.15 s, of a 100,000-case run <= 10 s.

    python benchmarks/bench_reports.py [RUN_DIR ...] [--cases 1000] [--rounds 5]
        [--before PATH] [--scale N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import ROOT, start_echo, write_suite

CHILD = """
import json, resource, shutil, sys, time
from pathlib import Path
folder, copy = Path(sys.argv[1]), Path(sys.argv[2])
t0, c0 = time.perf_counter(), time.process_time()
from harness.report.build import build_reports
imported, imported_cpu = time.perf_counter() - t0, time.process_time() - c0
times, cpu = [], []
for i in range(2):
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    for name in ("manifest.json", "cases.jsonl"):
        shutil.copy(folder / name, copy / name)
    t, c = time.perf_counter(), time.process_time()
    build_reports(copy)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
sizes = {p.name: p.stat().st_size for p in copy.iterdir() if p.suffix != ".jsonl"}
print(json.dumps({"import": imported, "first": times[0], "warm": times[1],
                  "import_cpu": imported_cpu, "first_cpu": cpu[0], "warm_cpu": cpu[1],
                  "pandas": "pandas" in sys.modules, "sizes": sizes,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def one(root: Path, folder: Path, scratch: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(scratch)],
        env=env, capture_output=True, text=True, check=True, cwd=root,
    )  # fmt: skip
    result: dict = json.loads(done.stdout.splitlines()[-1])
    return result


def make_run(tmp: Path, cases: int) -> Path:
    proc, port = start_echo()
    try:
        suite = write_suite(tmp / "suite", port, cases, 32)
        reports = tmp / "runs"
        subprocess.run(
            [sys.executable, "-m", "harness", "run", str(suite), "--reports-dir", str(reports),
             "--no-progress"],
            check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    return next(p for p in reports.iterdir() if p.is_dir())


def synthesise(source: Path, n: int, out: Path) -> Path:
    """A run folder of n cases from source's records: repeated with new case ids, every 10th
    case failing its first check (so that the reports group n / 10 divergences)."""
    out.mkdir(parents=True)
    manifest = json.loads((source / "manifest.json").read_text())
    manifest.update(planned=n, repeat=n)
    (out / "manifest.json").write_text(json.dumps(manifest))
    lines = [json.loads(line) for line in (source / "cases.jsonl").open()]
    with (out / "cases.jsonl").open("w") as f:
        for i in range(n):
            record = json.loads(json.dumps(lines[i % len(lines)]))
            case = f"echo#{i + 1}"
            record["case"].update(id=case, index=i)
            record["key"] = f"{case}@1"
            if i % 10 == 0:
                check = record["checks"][0]
                check.update(verdict="fail", message=f"no 'hello {i}x' in the reply")
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--scale", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        runs = args.runs or [make_run(tmp, args.cases)]
        if args.scale:
            runs = [synthesise(runs[0], args.scale, tmp / f"scaled-{args.scale}")]
        roots = {"now": ROOT} | ({"before": args.before} if args.before else {})
        for folder in runs:
            got: dict[str, list[dict]] = {k: [] for k in roots}
            for round_ in range(args.rounds):
                # which checkout goes first alternates (the second of two in a row ran
                # measurably faster or slower here, whichever it was)
                order = list(roots.items())
                for label, root in order if round_ % 2 else order[::-1]:
                    got[label].append(one(root, folder, tmp / "copy"))
                    shutil.rmtree(tmp / "copy", ignore_errors=True)
            lines = sum(1 for _ in (folder / "cases.jsonl").open("rb"))
            how = "interleaved rounds" if len(roots) > 1 else "rounds"
            print(f"{folder.name}: {lines} records, {args.rounds} {how}, medians")
            for label, rounds in got.items():
                keys = ("import", "first", "warm", "import_cpu", "first_cpu", "warm_cpu")
                med = {k: statistics.median(r[k] for r in rounds) for k in keys}
                sizes = rounds[-1]["sizes"]
                print(
                    f"  {label:6}  import {med['import']:.3f} s  reports {med['first']:.3f} s"
                    f"  (warm {med['warm']:.3f} s)  pandas imported: {rounds[-1]['pandas']}"
                    f"  peak RSS {max(r['rss'] for r in rounds) / 2**20:.0f} MiB"
                )
                print(
                    f"          cpu: import {med['import_cpu']:.3f} s  reports "
                    f"{med['first_cpu']:.3f} s  (warm {med['warm_cpu']:.3f} s)"
                )
                print(
                    "          "
                    + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sorted(sizes.items()))
                )
            first = statistics.median(r["first"] for r in got["now"])
            target = 0.15 if lines <= 1000 else 10.0 if lines >= 100_000 else None
            if target is not None:
                verdict = "meets" if first <= target else "MISSES"
                print(
                    f"  reports: {first:.3f} s (target, {lines:,} cases: <= {target} s, {verdict})"
                )


if __name__ == "__main__":
    main()
