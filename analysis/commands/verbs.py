"""The engine's other verbs on a CSV of studies: ``python -m analysis <verb> FILE.csv --measure M``.

``subgroup --by COL``, ``metareg --mods "FORMULA"``, ``leave1out``, ``influence``,
``cumul [--order COL]``, ``regtest``, ``ranktest``, ``trimfill``. The input and the pooling
options are those of ``pool`` (:mod:`analysis.commands.pool`); each verb pools the table and
analyses the fit. ``--json`` prints the result's JSON (frames as ``rows``); errors are one line
naming the line and column of the file.
"""
from __future__ import annotations

import sys

from analysis.commands.pool import parser, run
from analysis.dataset import study_table
from analysis.stats import bias
from analysis.stats.formatting import plain


def _frame(name):
    """Render a result frame: JSON ``{"analysis": name, "rows": [...]}`` or a text table."""

    def render(frame, args, *, as_json):
        if as_json:
            rows = [{col: plain(value) for col, value in row.items()}
                    for row in frame.to_dict(orient="records")]
            return {"analysis": name, "measure": args.measure, "rows": rows}
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    return render


def _object(result, args, *, as_json):
    return result.to_dict() if as_json else result.summary()


def _main(argv, verb, summary, add_options, compute, render) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def make_parser():
        out = parser(f"python -m analysis {verb}", summary, multilevel=False)
        add_options(out)
        return out

    return run(argv, make_parser, compute, render)


def _no_options(parser):
    return None


def subgroup(argv=None) -> int:
    def options(p):
        p.add_argument("--by", required=True, metavar="COL", help="column with each study's subgroup")
        p.add_argument("--tau2", choices=("separate", "common"), default="separate",
                       help="one tau2 per subgroup (default) or a common tau2")

    return _main(argv, "subgroup", "Subgroup analysis and the test for subgroup differences.", options,
                 lambda table, opts, args: study_table.subgroup(table, opts, args.by, args.tau2), _object)


def metareg(argv=None) -> int:
    def options(p):
        p.add_argument("--mods", required=True, metavar="FORMULA",
                       help='moderators, e.g. "~ year + factor(format)"; "- 1" drops the intercept')

    return _main(argv, "metareg", "Mixed-effects meta-regression.", options,
                 lambda table, opts, args: study_table.metareg(table, opts, args.mods), _object)


def leave1out(argv=None) -> int:
    return _main(argv, "leave1out", "The pooled result without each study in turn.", _no_options,
                 lambda table, opts, args: study_table.leave1out(table, opts), _frame("leave1out"))


def influence(argv=None) -> int:
    return _main(argv, "influence", "Influence diagnostics (case deletion).", _no_options,
                 lambda table, opts, args: study_table.influence(table, opts), _frame("influence"))


def cumul(argv=None) -> int:
    def options(p):
        p.add_argument("--order", metavar="COL", help="numeric column to add the studies by "
                                                      "(e.g. year; ties in file order); default file order")

    return _main(argv, "cumul", "Cumulative meta-analysis.", options,
                 lambda table, opts, args: study_table.cumul(table, opts, args.order), _frame("cumul"))


def regtest(argv=None) -> int:
    def options(p):
        p.add_argument("--model", dest="reg_model", choices=("rma", "lm"), default="rma",
                       help="meta-regression with the fit's tau2 (default) or Egger's weighted regression")
        p.add_argument("--predictor", choices=bias.PREDICTORS, default="sei",
                       help="standard error (default), variance or a function of the sample size")

    return _main(argv, "regtest", "Regression test for funnel plot asymmetry.", options,
                 lambda table, opts, args: study_table.regtest(table, opts, args.reg_model, args.predictor),
                 _object)


def ranktest(argv=None) -> int:
    return _main(argv, "ranktest", "Rank correlation test for funnel plot asymmetry.", _no_options,
                 lambda table, opts, args: study_table.ranktest(table, opts), _object)


def trimfill(argv=None) -> int:
    def options(p):
        p.add_argument("--estimator", choices=bias.ESTIMATORS, default="L0")
        p.add_argument("--side", choices=("left", "right"), help="side of the missing studies (default: estimated)")

    return _main(argv, "trimfill", "Trim-and-fill.", options,
                 lambda table, opts, args: study_table.trimfill(table, opts, args.estimator, args.side),
                 _object)
