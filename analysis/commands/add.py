"""``python -m analysis add FILE.yml [--data DIR]``: merge one trial into the dataset.

The file and the merge rules are described in :mod:`analysis.dataset.add` and data/README.md
("Entering a trial"); ``data/templates/trial.yml`` is a template. On any problem nothing is
written: each message names the YAML file, the key path, the value and the rule (exit 1).
"""
from __future__ import annotations

import argparse
import sys

from analysis.dataset.add import AddError, add_trial


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis add",
                                     description="Merge one trial (a YAML file) into the dataset.")
    parser.add_argument("file", metavar="FILE.yml", help="the trial: rows per table, and references")
    parser.add_argument("--data", default="data", help="dataset directory (default: data)")
    args = parser.parse_args(argv)
    try:
        report = add_trial(args.file, args.data)
    except AddError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"nothing was written to {args.data}", file=sys.stderr)
        return 1
    print(f"{args.file}: {report.summary()}; {args.data} is valid")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.other_warnings:
        print(f"note: {report.other_warnings} other warning(s) in {args.data}: `python -m analysis check {args.data}`",
              file=sys.stderr)
    print("next: `make book` (re-runs only the chapters the new rows touch)")
    return 0
