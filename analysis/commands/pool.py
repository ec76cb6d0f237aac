"""``python -m analysis pool FILE.csv --measure M [options]``: meta-analysis of one outcome.

The input is described in :mod:`analysis.dataset.study_table`. Bad input ends with one line on
stderr, ``error: FILE: line L, column C: value 'V': rule``, and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from analysis.dataset import study_table
from analysis.dataset.study_table import TABLE_METHODS, InputError, PoolOptions
from analysis.stats import meta
from analysis.stats.conventions import MEASURES
from analysis.stats.effects import MD_VTYPES, SMD_VTYPES


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m analysis pool",
        description=study_table.__doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE.csv")
    parser.add_argument("--measure", required=True, choices=MEASURES)
    parser.add_argument("--method", choices=(*meta.METHODS, *TABLE_METHODS),
                        help="tau2 estimator, FE, MH or PETO (default: from --preset, else REML)")
    parser.add_argument("--ci", choices=meta.CI_METHODS,
                        help="CI of the pooled effect (default: from --preset, else z)")
    parser.add_argument("--pi", choices=meta.PI_METHODS,
                        help="prediction interval (default: from --preset, else z)")
    parser.add_argument("--preset", choices=tuple(meta.PRESETS),
                        help="a whole set of conventions; explicit options override it")
    parser.add_argument("--vtype", choices=sorted(set(SMD_VTYPES) | set(MD_VTYPES)),
                        help="variance of SMD (LS, UB, revman5) or MD (HE, HO)")
    parser.add_argument("--level", type=float, default=95.0, help="confidence level in percent")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the results contract) instead of a summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 2 bad input, 1 internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = None
    try:
        args = _parser().parse_args(argv)
        path = args.file
        if not 0 < args.level < 100:
            raise InputError(f"--level must lie strictly between 0 and 100, not {args.level:g}")
        options = PoolOptions(args.measure, args.method, args.ci, args.pi, args.preset, args.vtype, args.level)
        result, notes = study_table.pool(study_table.read_table(args.file), options)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except InputError as exc:
        print(exc.render(path), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a CLI never shows a traceback
        print(f"error: {path}: internal error ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        print(result.summary())
    return 0
