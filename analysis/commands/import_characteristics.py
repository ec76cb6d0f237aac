"""``python -m analysis import-characteristics PATH [--data DIR]``: import the reviews' extractions.

The structured extractions of the source reviews (study characteristics, the trials of published
estimates, the umbrella review's implementation and experiences findings) are written into
``data/`` (see :mod:`analysis.dataset.extractions`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.dataset.extractions import ExtractionError, run
from analysis.dataset.metapsy import SourceError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis import-characteristics",
        description="Import the source reviews' extractions (extractions/ folder) into data/.")
    parser.add_argument("path", type=Path, help="the extractions/ folder (seed_001/, seeds_000_003/, seed_002_004/)")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="the dataset directory to read trials from and write to (default: data/)")
    args = parser.parse_args(argv)
    try:
        tables = run(args.path, args.data)
    except (ExtractionError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{len(records)} rows of {name}" for name, (_, records) in tables.items())
    print(f"wrote {counts} to {args.data}")
    return 0
