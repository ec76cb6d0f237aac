"""Benchmark the chapter kernels' thread setting: two Learn chapters alone and side by side.

Run from the repository root:

    python benchmarks/blas.py [--write]

Executes Learn chapters 04 and 12 with papermill (as the build does), each alone and then both at
once, first with the linear-algebra libraries' default threads and then with
``analysis.book.build.KERNEL_ENV`` (one thread), and prints the wall time of each execution. With
``--write`` the table replaces the "Chapter kernels and BLAS threads" section of
``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import replace_section

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ["04-few-studies", "12-bayesian-and-sequential"]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_RUN = ("import logging, sys, papermill as pm\n"
        "logging.getLogger('papermill').setLevel(logging.ERROR)\n"
        "pm.execute_notebook(sys.argv[1], sys.argv[2], kernel_name='python3', progress_bar=False, cwd=sys.argv[3])\n")


def execute(name: str, out: Path, env: dict) -> float:
    """Seconds to execute Learn chapter ``name`` in a fresh process (its kernel inherits ``env``)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _RUN, str(ROOT / "chapters" / "learn" / f"{name}.ipynb"),
                    str(out / f"{name}.ipynb"), str(out)], env=env, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def run() -> list[tuple[str, str, dict[str, float]]]:
    sys.path.insert(0, str(ROOT))
    from analysis.book.build import KERNEL_ENV

    default = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    settings = {"default threads": default, "one thread (KERNEL_ENV)": {**default, **KERNEL_ENV}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="review-blas-") as tmp:
        out = Path(tmp)
        for name in CHAPTERS:
            (out / name).mkdir()        # side by side, each chapter writes in its own directory
        for setting, env in settings.items():
            rows.append((setting, "alone", {name: execute(name, out, env) for name in CHAPTERS}))
            with cf.ThreadPoolExecutor(len(CHAPTERS)) as pool:
                futures = {name: pool.submit(execute, name, out / name, env) for name in CHAPTERS}
                rows.append((setting, "side by side", {name: f.result() for name, f in futures.items()}))
    return rows


def table(rows) -> str:
    lines = ["| BLAS threads | run | " + " | ".join(f"Learn {name} (s)" for name in CHAPTERS) + " |",
             "|---|---|" + "---|" * len(CHAPTERS)]
    for setting, how, seconds in rows:
        lines.append(f"| {setting} | {how} | " + " | ".join(f"{seconds[name]:.1f}" for name in CHAPTERS) + " |")
    lines += ["", f"Machine: {os.cpu_count()} cores; each time includes starting Python, papermill and the kernel."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    text = table(run())
    print(text)
    if args.write:
        replace_section("Chapter kernels and BLAS threads",
                        "Command: `python benchmarks/blas.py --write`. Why the build sets one BLAS thread in every "
                        "chapter kernel\n(`analysis.book.build.KERNEL_ENV`): the build runs one kernel per core.\n\n"
                        + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
