"""``python -m analysis release``: record the built results as a release.

Usage: ``python -m analysis release --version YY.MINOR.PATCH [--notes TEXT] [--data DIR] [--results DIR]``
(see :func:`analysis.book.changelog.release`).
"""
from __future__ import annotations

import argparse
import sys

from analysis.book import changelog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis release",
                                     description="Snapshot the current build as a release.")
    parser.add_argument("--version", required=True, help="new dataset version, YY.MINOR.PATCH")
    parser.add_argument("--data", default="data")
    parser.add_argument("--results", default="_build/results", help="results of a build of this data")
    parser.add_argument("--notes", help="release notes, shown on What's new and in data/CHANGELOG.md")
    args = parser.parse_args(argv)
    try:
        history = changelog.release(args.version, args.data, args.results, notes=args.notes)
    except changelog.ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    print(f"release {args.version}: snapshot {history.parent / changelog.SNAPSHOT}, changelog {history}")
    return 0
