"""``python -m analysis build``: build the book (see :mod:`analysis.book.build`).

Options: ``[--root DIR] [--data DIR] [--jobs N] [--force] [--no-book] [--pdf]``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from analysis.book import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis build", description=build.__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="book root (holds _config.yml); default: .")
    parser.add_argument("--data", default="data", help="dataset directory; default: data")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel notebooks")
    parser.add_argument("--force", action="store_true", help="re-execute every domain chapter")
    parser.add_argument("--no-book", action="store_true", help="stop after results and pages")
    parser.add_argument("--only", action="append", metavar="DOMAIN",
                        help="preview: re-run only this domain's chapter (repeatable) and write the book to "
                             "_build/preview (the published book is left alone)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print the whole review to one PDF (needs Chromium; about 2-3 GB of memory)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--traceback", action="store_true", help="show the traceback of an internal error")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not (root / "_config.yml").exists():
        print(f"error: {root.resolve()}: no _config.yml here; run from the repository root or pass --root",
              file=sys.stderr)
        return 2
    builder = build.Builder(root, Path(args.data), args.jobs, force=args.force, run_book=not args.no_book,
                            quiet=args.quiet, only=args.only, make_pdf=args.pdf)
    try:
        builder.run()
    except build.BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("the published book and results were left unchanged", file=sys.stderr)
        return 1
    except Exception as exc:  # an internal error: still never publish half a book
        if args.traceback:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} (rerun with --traceback for details)",
              file=sys.stderr)
        print("the published book and results were left unchanged", file=sys.stderr)
        return 2
    return 0
