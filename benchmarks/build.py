"""Benchmark the book build: clean build, no-change rebuild, one-trial rebuild, adding a trial.

Run from the repository root:

    python benchmarks/build.py [--write]

Works on a temporary copy of the repository (the working tree is never touched), times each
build with the wall clock, records the peak resident memory of the build process tree and, with
``--write``, replaces the "Book build" section of ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import replace_section

ROOT = Path(__file__).resolve().parent.parent
IGNORE = shutil.ignore_patterns(".venv", "_build", ".git", "__pycache__", ".pytest_cache", ".hypothesis",
                                "domains", "generated", "*.egg-info", "_work")


def timed_build(root: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    # the copy's own analysis package, in the build and in the chapter kernels (PYTHONPATH)
    proc = subprocess.run([sys.executable, "-m", "analysis", "build", "--root", str(root), "--quiet"],
                          capture_output=True, text=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    build = json.loads((root / "_build" / "results" / "build.json").read_text())
    return seconds, build


def change_one_trial(root: Path, study_id: str = "johnson2018") -> str:
    """Add 1 to mean1 of the trial's first msd outcome row; returns its outcome_id."""
    path = root / "data" / "outcomes.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    for i, line in enumerate(lines[1:], start=1):
        cells = line.rstrip("\n").split(",")
        if cells[header.index("study_id")] == study_id and cells[header.index("data_type")] == "msd":
            cells[header.index("mean1")] = str(float(cells[header.index("mean1")]) + 1)
            lines[i] = ",".join(cells) + "\n"
            path.write_text("".join(lines), encoding="utf-8")
            return cells[header.index("outcome_id")]
    raise SystemExit(f"no msd row of {study_id}")


def add_a_trial(root: Path) -> float:
    """``python -m analysis add`` of the drill's trial that awaited extraction; returns its seconds."""
    # the drill's file names its trial STUDY; the tests' helper picks a trial that awaits extraction
    sys.path.insert(0, str(root / "tests"))
    from conftest import awaiting_trial_file

    trial, _ = awaiting_trial_file(root / "data", root)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "analysis", "add", str(trial)], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"add failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def _row(step: str, seconds: float, build: dict) -> dict:
    return {"step": step, "seconds": seconds, "executed": len(build["executed"]), "reused": len(build["reused"]),
            "learn": len(build.get("learn_executed", []))}


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "review"
        shutil.copytree(ROOT, root, ignore=IGNORE)
        seconds, build = timed_build(root)
        rows.append(_row("clean build", seconds, build))
        seconds, build = timed_build(root)
        rows.append(_row("no-change rebuild", seconds, build))
        outcome = change_one_trial(root)
        seconds, build = timed_build(root)
        rows.append(_row(f"one-trial rebuild ({outcome})", seconds, build))
        added = add_a_trial(root)
        seconds, build = timed_build(root)
        rows.append(_row(f"add a trial ({added:.1f} s) + rebuild", added + seconds, build))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for row in rows:
        row["peak_mb"] = peak
    return rows


def table(rows: list[dict]) -> str:
    clean = rows[0]["seconds"]
    lines = ["| step | wall time (s) | share of clean build | domain chapters executed | reused | Learn chapters executed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['seconds']:.1f} | {100 * r['seconds'] / clean:.0f}% | "
                     f"{r['executed']} | {r['reused']} | {r['learn']} |")
    lines.append("")
    lines.append(f"Peak resident memory of one child process: {rows[0]['peak_mb']:.0f} MB. "
                 f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}.")
    return "\n".join(lines)


def write_results(text: str) -> None:
    replace_section("Book build", "Command: `python benchmarks/build.py --write` (real data, temporary copy; the added\n"
                    "trial is tests/fixtures/trials/awaiting-extracted.yml, `python -m analysis add`).\n"
                    "Goals: no-change rebuild under 10 s; one-trial rebuild under 40% of the clean build.\n"
                    "Learn chapters are pinned to the dataset version (they re-run at a release, not at every edit),\n"
                    "so a one-trial edit re-executes only the domain chapters containing the trial.\n\n" + text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows = run()
    text = table(rows)
    print(text)
    if args.write:
        write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
