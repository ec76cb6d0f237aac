"""``python -m analysis pool FILE.csv --measure M [options]``: meta-analysis of one outcome.

The input is described in :mod:`analysis.dataset.study_table`. Bad input ends with one line on
stderr, ``error: FILE: line L, column C: value 'V': rule``, and exit code 2. ``--model
multilevel`` pools several comparisons per trial (a ``cluster`` column: the trial) with the
three-level model; ``--robust`` adds cluster-robust (CR2) inference and ``--rho`` the CHE
working model's within-trial sampling correlation.

The functions here (the shared options and the run loop) serve every engine verb
(:mod:`analysis.commands.verbs`).
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

MODELS = ("univariate", "multilevel")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(message)


def parser(prog: str, summary: str, *, multilevel: bool) -> argparse.ArgumentParser:
    """An argument parser with the input file and the pooling options every verb shares."""
    description = summary + "\n\n" + study_table.__doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
    out = _Parser(prog=prog, description=description,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    out.add_argument("file", metavar="FILE.csv")
    out.add_argument("--measure", required=True, choices=MEASURES)
    out.add_argument("--method", choices=(*meta.METHODS, *TABLE_METHODS),
                     help="tau2 estimator, FE, MH or PETO (default: from --preset, else REML; "
                          "REML or ML for --model multilevel)")
    out.add_argument("--ci", choices=(*meta.CI_METHODS, "t") if multilevel else meta.CI_METHODS,
                     help="CI of the pooled effect (default: from --preset, else z"
                          + ("; z or t for --model multilevel)" if multilevel else ")"))
    out.add_argument("--pi", choices=meta.PI_METHODS,
                     help="prediction interval (default: from --preset, else z)")
    out.add_argument("--preset", choices=tuple(meta.PRESETS),
                     help="a whole set of conventions; explicit options override it")
    out.add_argument("--vtype", choices=sorted(set(SMD_VTYPES) | set(MD_VTYPES)),
                     help="variance of SMD (LS, UB, revman5) or MD (HE, HO)")
    out.add_argument("--level", type=float, default=95.0, help="confidence level in percent")
    if multilevel:
        out.add_argument("--model", choices=MODELS, default="univariate",
                         help="multilevel: comparisons within trials (needs a cluster column)")
        out.add_argument("--robust", action="store_true",
                         help="cluster-robust CR2 inference with Satterthwaite df (--model multilevel)")
        out.add_argument("--rho", type=float,
                         help="within-trial sampling correlation, the CHE working model (--model multilevel)")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object (the results contract) instead of a summary")
    return out


def options_of(args) -> PoolOptions:
    """The pooling options of parsed arguments."""
    if not 0 < args.level < 100:
        raise InputError(f"--level must lie strictly between 0 and 100, not {args.level:g}")
    return PoolOptions(args.measure, args.method, args.ci, args.pi, args.preset, args.vtype, args.level,
                       getattr(args, "model", "univariate"), getattr(args, "robust", False),
                       getattr(args, "rho", None))


def run(argv, make_parser, compute, render) -> int:
    """Parse, read the table, compute and print; returns the exit code.

    0 ok, 2 bad input, 1 internal error. Every failure is one line on stderr, never a traceback.
    """
    path = None
    try:
        args = make_parser().parse_args(argv)
        path = args.file
        result, notes = compute(study_table.read_table(args.file), options_of(args), args)
        text = json.dumps(render(result, args, as_json=True), allow_nan=False) if args.json \
            else render(result, args, as_json=False)
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
    try:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(text)
    except BrokenPipeError:  # the output was piped into a command that stopped reading
        sys.stdout = None
    return 0


def _render(result, args, *, as_json):
    return result.to_dict() if as_json else result.summary()


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 2 bad input, 1 internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(argv, lambda: parser("python -m analysis pool", "Meta-analysis of one outcome.",
                                    multilevel=True),
               lambda table, options, args: study_table.pool(table, options), _render)
