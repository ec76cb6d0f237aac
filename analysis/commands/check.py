"""``python -m analysis check [DIR] [--no-curation] [--json]``: validate the dataset.

Prints every error, warning and note of :func:`analysis.dataset.check` (one line each, sorted by
file and line) and a summary. Exit status: 0 valid (warnings do not fail), 1 errors in the data,
2 bad usage or an internal failure (reported in one line, never as a traceback).
"""
from __future__ import annotations

import argparse
import json
import sys

from analysis import dataset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis check",
        description="Validate the review's dataset: schema, domain rules, curation log, plausibility.")
    parser.add_argument("data_dir", nargs="?", default="data", metavar="DIR",
                        help="dataset directory holding datapackage.json (default: data)")
    parser.add_argument("--no-curation", action="store_true",
                        help="validate the raw rows without applying curation.csv")
    parser.add_argument("--json", action="store_true", help="print the issues as JSON")
    return parser


def summary(issues: list[dataset.Issue]) -> dict[str, int]:
    """Number of issues per severity."""
    return {s: sum(i.severity == s for i in issues) for s in dataset.SEVERITIES}


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    curated = not args.no_curation
    try:
        issues = dataset.check(args.data_dir, curated=curated)
    except Exception as exc:  # a bug must not hide behind a traceback in a maintainer's terminal
        print(f"error: internal error while checking {args.data_dir}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    counts = summary(issues)
    view = "curated" if curated else "raw, without curation"
    if args.json:
        print(json.dumps({"data_dir": args.data_dir, "curated": curated, **{f"{k}s": v for k, v in counts.items()},
                          "issues": [i.to_dict() for i in issues]}, indent=1))
    else:
        for issue in issues:
            print(f"{issue.severity}: {issue}")
        state = "INVALID" if counts["error"] else "valid"
        print(f"{args.data_dir} ({view}): {state}: {counts['error']} error(s), "
              f"{counts['warning']} warning(s), {counts['note']} note(s)")
    return 1 if counts["error"] else 0
