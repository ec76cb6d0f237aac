"""Command line: ``python -m analysis <command> [options]``.

Each command is a module of this package (or a function of one, ``module:function``) that parses
its arguments and calls the layer that does the work; this file only dispatches, so that
``python -m analysis pool`` does not import the book machinery.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "pool": ("analysis.commands.pool", "pool a CSV of studies (meta-analysis of one outcome)"),
    "subgroup": ("analysis.commands.verbs:subgroup", "subgroup analysis of a CSV of studies (--by COL)"),
    "metareg": ("analysis.commands.verbs:metareg", "meta-regression of a CSV of studies (--mods FORMULA)"),
    "leave1out": ("analysis.commands.verbs:leave1out", "leave-one-out analysis of a CSV of studies"),
    "influence": ("analysis.commands.verbs:influence", "influence diagnostics of a CSV of studies"),
    "cumul": ("analysis.commands.verbs:cumul", "cumulative meta-analysis of a CSV of studies (--order COL)"),
    "regtest": ("analysis.commands.verbs:regtest", "regression test for funnel plot asymmetry"),
    "ranktest": ("analysis.commands.verbs:ranktest", "rank correlation test for funnel plot asymmetry"),
    "trimfill": ("analysis.commands.verbs:trimfill", "trim-and-fill"),
    "check": ("analysis.commands.check", "validate the dataset in data/ (errors exit non-zero)"),
    "add": ("analysis.commands.add", "merge one trial (a YAML file) into data/, validated first"),
    "import-metapsy": ("analysis.commands.import_metapsy", "convert a Metapsy-standard database into data/"),
    "import-characteristics": ("analysis.commands.import_characteristics",
                               "import the source reviews' extractions (characteristics, findings) into data/"),
    "build": ("analysis.commands.build", "validate, re-run stale chapters and build the book"),
    "release": ("analysis.commands.release", "record the current results as a release (snapshot + changelog)"),
}


def _usage() -> str:
    lines = ["usage: python -m analysis <command> [options]", "", "commands:"]
    for name, (_, help_text) in COMMANDS.items():
        lines.append(f"  {name:<16}{help_text}")
    lines.append("")
    lines.append("Run 'python -m analysis <command> --help' for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[name][0].partition(":")
    module = importlib.import_module(module_name)
    return int(getattr(module, function or "main")(rest) or 0)
