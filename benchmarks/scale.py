"""How the book build scales with the number of trials.

    python benchmarks/scale.py [--sizes 28 300 3000] [--write]

For each size, a temporary copy of the repository gets a dataset (28 = the real data; any other
N = ``benchmarks/synthetic.py`` with N synthetic trials in the copy's ``data/``) and is built
three times: clean build, no-change rebuild, one-trial rebuild (mean1 of one trial's first msd
row + 1). Recorded: wall time, domains executed (and whether they are exactly the domains that
select the changed row), and the peak resident memory of the build's whole process tree (the
build, its notebook workers and kernels, jupyter-book), sampled every 0.1 s with psutil.
``--write`` replaces the "Scale" section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from build import IGNORE, ROOT, change_one_trial  # noqa: E402  (benchmarks/build.py)
from results import replace_section  # noqa: E402

COMMAND = "python benchmarks/scale.py --write"
LEARN = Path("chapters") / "learn"
FRONT = Path("chapters") / "front"


def measured_build(root: Path, timeout: float) -> dict:
    """Run one build; wall time, peak RSS of the process tree (MB) and build.json."""
    start = time.perf_counter()
    # the copy's own analysis package, in the build and in the chapter kernels (PYTHONPATH), so that
    # editing the working tree during a long run cannot change what is measured
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "build", "--root", str(root), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent] + parent.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        rss = 0
        for p in tree:
            try:
                rss += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, rss)
        if time.perf_counter() - start > timeout:
            for p in tree[::-1]:
                p.kill()
            raise SystemExit(f"build of {root} exceeded {timeout:.0f} s")
        time.sleep(0.1)
    output = proc.stdout.read()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build of {root} failed (exit {proc.returncode}):\n{output[-3000:]}")
    build = json.loads((root / "_build" / "results" / "build.json").read_text(encoding="utf-8"))
    return {"seconds": seconds, "peak_mb": peak / 2**20, "executed": build["executed"], "reused": build["reused"]}


def touched_domains(data_dir: Path, outcome_id: str) -> set[str]:
    """Domains whose selector picks the outcome row ``outcome_id``."""
    with (data_dir / "outcomes.csv").open(encoding="utf-8", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["outcome_id"] == outcome_id)
    domains = yaml.safe_load((data_dir / "domains.yml").read_text(encoding="utf-8"))
    return {d["id"] for d in domains for key, values in d["select"].items() if row[key] in values}


def first_msd_trial(data_dir: Path) -> str:
    with (data_dir / "outcomes.csv").open(encoding="utf-8", newline="") as f:
        return next(r["study_id"] for r in csv.DictReader(f) if r["data_type"] == "msd")


def run_size(n: int, timeout: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "review"
        shutil.copytree(ROOT, root, ignore=IGNORE)
        # the Learn chapters are tutorials written for the real trials (they name them); they are
        # left out at every N so that the sizes are comparable
        shutil.rmtree(root / LEARN, ignore_errors=True)
        data_dir = root / "data"
        if n == 28:
            trial, label = "johnson2018", "28 (real data)"
        else:
            synthetic.write(n, data_dir)
            trial, label = first_msd_trial(data_dir), f"{n} (synthetic)"
            # the front matter states the real review's findings, whose premises synthetic data do
            # not meet (the build would rightly refuse them): stand-in pages without findings
            for page in (root / FRONT).glob("*.md"):
                page.write_text(f"# {page.stem.replace('-', ' ').capitalize()}\n\nSynthetic benchmark data: no "
                                "findings are stated.\n", encoding="utf-8")
        with (data_dir / "outcomes.csv").open(encoding="utf-8", newline="") as f:
            rows = sum(1 for _ in csv.DictReader(f))
        n_domains = len(yaml.safe_load((data_dir / "domains.yml").read_text(encoding="utf-8")))
        results = []
        for step in ("clean build", "no-change rebuild", "one-trial rebuild"):
            expected = set()
            if step == "one-trial rebuild":
                outcome = change_one_trial(root, trial)
                expected = touched_domains(data_dir, outcome)
            r = measured_build(root, timeout)
            if step == "clean build":
                expected = set(r["executed"]) | set(r["reused"])
            r.update(n=label, rows=rows, domains=n_domains, step=step,
                     only_touched=set(r["executed"]) == expected)
            print(f"N = {label}: {step}: {r['seconds']:.1f} s, executed {len(r['executed'])}/{n_domains}, "
                  f"peak {r['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
            results.append(r)
        return results


def table(results: list[dict]) -> str:
    lines = ["| trials (N) | outcome rows | step | wall time (s) | domains executed | as expected | "
             "peak memory of the build tree (MB) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['n']} | {r['rows']} | {r['step']} | {r['seconds']:.1f} | "
                     f"{len(r['executed'])} of {r['domains']} | {'yes' if r['only_touched'] else 'NO'} | "
                     f"{r['peak_mb']:.0f} |")
    return "\n".join(lines)


def goals(results: list[dict]) -> str:
    clean = [(int(r["n"].split()[0]), r["seconds"]) for r in results if r["step"] == "clean build"]
    lines = []
    if len(clean) > 1:
        (n0, t0), (n1, t1) = clean[0], clean[-1]
        verdict = "met" if t1 / t0 < n1 / n0 else "NOT met"
        lines.append(f"- Clean build grows less than linearly in N: {verdict} ({n1 / n0:.0f}x the trials "
                     f"({n0} -> {n1}), {t1 / t0:.1f}x the time).")
    peak = max(r["peak_mb"] for r in results)
    lines.append(f"- Peak memory under 2 GB: {'met' if peak < 2048 else 'NOT met'} (largest {peak:.0f} MB).")
    one = [r for r in results if r["step"] == "one-trial rebuild"]
    ok = all(r["only_touched"] for r in one)
    lines.append(f"- One-trial rebuild re-executes only the touched domains: {'met' if ok else 'NOT met'} "
                 f"at every N ({', '.join(str(len(r['executed'])) for r in one)} domains).")
    return "\n".join(lines)


def write_results(text: str) -> None:
    replace_section("Scale", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 300, 3000])
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per build")
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    results = []
    for n in args.sizes:  # recorded after each size, so that a long last size loses nothing
        results += run_size(n, args.timeout)
        text = report(results)
        if args.write:
            write_results(text)
    print(text)
    return 0


def report(results: list[dict]) -> str:
    machine = (f"Machine: {os.cpu_count()} cores (shared), {psutil.virtual_memory().total / 2**30:.0f} GB RAM, "
               f"Python {platform.python_version()}, {platform.system()}.")
    return (f"Command: `{COMMAND}` (temporary copies of the repository without the Learn "
            f"chapters; N = 28 is the real data with its 10 domains, other N are synthetic trials from "
            f"`benchmarks/synthetic.py` with 8 domains).\n\n"
            + table(results) + "\n\n" + goals(results) + "\n\n" + machine + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
