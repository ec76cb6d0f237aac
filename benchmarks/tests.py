"""Benchmark the test suite: ``make test`` on a fresh clone of the committed code.

Run from the repository root:

    python benchmarks/tests.py [--workers auto,1] [--write]

Clones HEAD into a temporary directory (uncommitted changes are not measured), with the source
reviews' material (``../shared``) beside the clone when it is beside this repository, so that
``REVIEW_NO_SKIP=1`` holds as in CI; runs ``make test`` there once per worker setting
(``PYTEST_WORKERS``; ``auto`` is one worker per core), with this repository's virtual
environment (``VENV``: installing it is not part of the measure) and its axe-core, and times each run with the
wall clock and the CPU time of the whole process tree. With ``--write`` the table replaces the
"Test suite" section of ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import replace_section

ROOT = Path(__file__).resolve().parent.parent
#: The goal of the codebase issue: ``make test`` on two cores.
GOAL_SECONDS = 300.0


def clone(target: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target / "review")], check=True)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (target / "shared").symlink_to(shared)
    return target / "review"


def make_test(repo: Path, workers: str) -> dict:
    env = dict(os.environ)
    env.pop("REVIEW_NO_SKIP", None)
    if (repo.parent / "shared").exists():
        env["REVIEW_NO_SKIP"] = "1"
    # the accessibility test's axe-core, which .ci/run installs: this repository's copy
    axe = ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
    if axe.exists():
        env.setdefault("AXE_CORE_JS", str(axe))
    venv = Path(sys.prefix)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # -o: the environment counts as installed (make would otherwise reinstall it: the clone's
    # requirements.txt is newer than its stamp)
    proc = subprocess.run(["make", "-o", f"{venv}/.installed", "test", f"VENV={venv}", f"PYTEST_WORKERS={workers}"],
                          cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = next((line.strip("= ") for line in reversed(proc.stdout.splitlines())
                    if re.search(r"\d+ (passed|failed)", line)), "no summary")
    if proc.returncode != 0:
        raise SystemExit(f"make test failed ({summary}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"workers": workers, "seconds": seconds, "cpu": cpu,
            "summary": re.sub(r" in [\d.]+s.*", "", summary)}


def table(rows: list[dict], commit: str) -> str:
    lines = [f"Code: commit {commit}. Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{platform.system()}; load average {os.getloadavg()[0]:.1f} at the end.", "",
             "| `make test` workers | tests | wall time (s) | CPU time of all processes (s) |",
             "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['workers']} | {row['summary']} | {row['seconds']:.1f} | {row['cpu']:.0f} |")
    best = min(rows, key=lambda r: r["seconds"])
    met = "met" if best["seconds"] < GOAL_SECONDS else "not met"
    lines += ["", f"- Goal `make test` under {GOAL_SECONDS / 60:.0f} minutes on two cores: {met} "
              f"({best['seconds']:.1f} s with PYTEST_WORKERS={best['workers']})."]
    return "\n".join(lines)


def write_results(text: str) -> None:
    replace_section("Test suite", "Command: `python benchmarks/tests.py --write` (`make test` on a fresh clone of HEAD, "
                    "every test,\nslow ones included; `../shared` beside the clone and `REVIEW_NO_SKIP=1`, as in "
                    "CI).\n\n" + text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="auto", help="comma-separated PYTEST_WORKERS settings (default: auto)")
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory(prefix="review-tests-") as tmp:
        repo = clone(Path(tmp))
        for workers in args.workers.split(","):
            print(f"make test, PYTEST_WORKERS={workers} ...", flush=True)
            rows.append(make_test(repo, workers))
            print(f"  {rows[-1]['summary']}: {rows[-1]['seconds']:.1f} s", flush=True)
    text = table(rows, commit)
    print(text)
    if args.write:
        write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
