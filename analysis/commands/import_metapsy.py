"""``python -m analysis import-metapsy``: convert a Metapsy-standard database into ``data/``.

Usage: ``python -m analysis import-metapsy PATH [--out DIR]`` (see :mod:`analysis.dataset.metapsy`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.dataset.metapsy import SourceError, run, sign_disagreements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis import-metapsy",
        description="Convert a Metapsy-standard database (data.csv + metadata/) into data/.")
    parser.add_argument("path", type=Path, help="directory holding data.csv and metadata/")
    parser.add_argument("--out", type=Path, default=Path("data"),
                        help="output directory (default: data/)")
    args = parser.parse_args(argv)
    try:
        tables = run(args.path, args.out)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    outcomes = tables["outcomes.csv"][1]
    print(f"wrote {len(tables['studies.csv'][1])} studies, {len(outcomes)} outcome rows, "
          f"{len(tables['instruments.csv'][1])} instruments to {args.out}")
    for source_row in sign_disagreements(outcomes):
        print(f"warning: {source_row}: .g disagrees in sign with the arm means "
              "(see data/curation.csv)", file=sys.stderr)
    return 0

