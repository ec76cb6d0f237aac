"""``python -m analysis pool FILE.csv``: meta-analysis of one outcome from a CSV of studies.

The CSV has a ``study`` column and one kind of data per row:

- ``n1, mean1, sd1, n2, mean2, sd2`` (SMD, MD),
- ``events1, total1, events2, total2`` (RR, OR, RD; the only input for MH and PETO),
- ``yi`` with ``vi``, ``sei`` or ``ci_low`` and ``ci_high`` (any measure; ``yi`` is on the log
  scale for RR/OR with ``vi``/``sei``, on the ratio scale with a CI).

Arm 1 is peer support; positive effects favour it. Bad input ends with one line on stderr,
``error: FILE: line L, column C: value 'V': rule``, and exit code 2.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass

from analysis import meta
from analysis.effects import (BINARY_COLUMNS, CONTINUOUS_COLUMNS, MD_VTYPES, MEASURES,
                              SMD_VTYPES, EffectInputError, escalc)

ARM_COLUMNS = {"SMD": CONTINUOUS_COLUMNS, "MD": CONTINUOUS_COLUMNS,
               "RR": BINARY_COLUMNS, "OR": BINARY_COLUMNS, "RD": BINARY_COLUMNS}
# the first complete set found is used
PRECOMPUTED_COLUMNS = (("yi", "vi"), ("yi", "sei"), ("yi", "ci_low", "ci_high"))
# Mantel-Haenszel and Peto pool the 2x2 tables themselves
TABLE_METHODS = {"MH": meta.MH_MEASURES, "PETO": ("OR",)}


class InputError(Exception):
    """Bad input, located in the CSV file where possible."""

    def __init__(self, rule: str, line: int | None = None, column: str | None = None,
                 value: str = ""):
        super().__init__(rule)
        self.rule, self.line, self.column, self.value = rule, line, column, value

    def render(self, path: str | None) -> str:
        if path is None:
            return f"error: {self.rule}"
        if self.line is None:
            return f"error: {path}: {self.rule}"
        return (f"error: {path}: line {self.line}, column {self.column}: "
                f"value '{self.value}': {self.rule}")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(message)


@dataclass
class Table:
    """A CSV read as text: header, and per data row its physical line number and cells."""

    header: list[str]
    lines: list[int]
    rows: list[dict[str, str]]

    def numbers(self, column: str) -> list[float]:
        """The column as floats; an empty cell is NaN (reported as missing by ``escalc``)."""
        values = []
        for line, row in zip(self.lines, self.rows):
            text = row[column].strip()
            if not text:
                values.append(math.nan)
                continue
            try:
                value = float(text)
            except ValueError:
                raise InputError("not a number (use a dot as the decimal mark)",
                                 line, column, text) from None
            if not math.isfinite(value):
                raise InputError("not a finite number", line, column, text)
            values.append(value)
        return values


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m analysis pool",
        description=__doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0],
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


def read_table(path: str) -> Table:
    """Read a UTF-8 CSV with a header row, keeping the line number of every data row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            records = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise InputError("file not found") from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text") from None
    except csv.Error as exc:
        raise InputError(f"not a valid CSV file ({exc})") from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})") from None
    if not records:
        raise InputError("the file is empty: a header row is needed", 1, "1")
    header = [name.strip() for name in records[0][1]]
    for position, name in enumerate(header, start=1):
        if not name:
            raise InputError("empty column name in the header", 1, str(position))
        if name in header[:position - 1]:
            raise InputError("duplicate column name in the header", 1, name, name)
    lines, rows = [], []
    for line, cells in records[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            position = min(len(cells), len(header)) + 1
            column = header[position - 1] if position <= len(header) else str(position)
            value = cells[position - 1] if position <= len(cells) else ""
            raise InputError(f"row has {len(cells)} cells but the header has {len(header)}",
                             line, column, value)
        lines.append(line)
        rows.append(dict(zip(header, cells)))
    if not rows:
        raise InputError("no data rows below the header", 2, header[0])
    return Table(header, lines, rows)


def _data_columns(table: Table, measure: str, method: str | None) -> tuple[str, ...]:
    """The columns holding the data, chosen by measure and method from those present."""
    present = set(table.header)
    if "study" not in present:
        raise InputError("required column is missing", 1, "study")
    arm = ARM_COLUMNS.get(measure)
    if method in TABLE_METHODS:
        if measure not in TABLE_METHODS[method]:
            raise InputError(f"--method {method} needs --measure "
                             f"{' or '.join(TABLE_METHODS[method])}")
        candidates = (arm,)
    elif arm is not None and (present & set(arm) or "yi" not in present):
        candidates = (arm,)
    else:
        candidates = PRECOMPUTED_COLUMNS
    for columns in candidates:
        if set(columns) <= present:
            return columns
    needed = candidates[0]
    missing = next(c for c in needed if c not in present)
    hint = ""
    for other, columns in (("SMD or MD", CONTINUOUS_COLUMNS), ("RR, OR or RD", BINARY_COLUMNS)):
        if set(columns) <= present and columns != needed:
            hint = f"; the file has the columns for --measure {other}"
    what = ", ".join(needed) if len(candidates) == 1 else "yi with vi, sei or ci_low and ci_high"
    raise InputError(f"required column is missing (--measure {measure} needs {what}{hint})",
                     1, missing)


def _vtype(args) -> str | None:
    if args.vtype is not None:
        if args.measure not in ("SMD", "MD"):
            raise InputError(f"--vtype applies to SMD and MD, not {args.measure}")
        return args.vtype
    if args.measure == "SMD" and args.preset is not None:
        return meta.PRESETS[args.preset].vtype
    return {"SMD": "LS", "MD": "HE"}.get(args.measure)


def _labels(table: Table) -> list[str]:
    labels = [row["study"].strip() for row in table.rows]
    for line, label, row in zip(table.lines, labels, table.rows):
        if not label:
            raise InputError("study label is missing", line, "study", row["study"])
    return labels


def effect_sizes(table: Table, args, labels: list[str], data: dict[str, list[float]]):
    """Validated effect sizes of the table; input errors are located in the file."""
    options = {"vtype": vtype} if (vtype := _vtype(args)) is not None else {}
    try:
        return escalc(args.measure, labels=labels, level=args.level, **options, **data)
    except EffectInputError as exc:
        raise InputError(exc.rule, table.lines[exc.index], exc.column,
                         table.rows[exc.index][exc.column].strip()) from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


def pool(table: Table, args):
    """The pooled result for the parsed command line, and notes on excluded studies."""
    columns = _data_columns(table, args.measure, args.method)
    labels = _labels(table)
    data = {column: table.numbers(column) for column in columns}
    es = effect_sizes(table, args, labels, data)
    if not es.labels:
        raise InputError(f"no study left to pool: all {len(es.excluded)} excluded "
                         f"({es.excluded[0]['reason']})")
    if args.method in TABLE_METHODS:
        if args.ci is not None or args.pi is not None:
            raise InputError(f"--ci and --pi do not apply to --method {args.method}")
        # the 2x2 tables are pooled as they are (double-zero tables included, as metafor's
        # rma.mh and rma.peto do); escalc only validated them
        if args.method == "MH":
            return meta.rma_mh(**data, measure=args.measure, labels=labels, level=args.level), []
        return meta.rma_peto(**data, labels=labels, level=args.level), []
    options = {name: value for name, value in
               (("method", args.method), ("ci", args.ci), ("pi", args.pi), ("preset", args.preset))
               if value is not None}
    notes = [f"study {e['study']!r} excluded: {e['reason']}" for e in es.excluded]
    return meta.rma(es.yi, es.vi, labels=es.labels, measure=es.measure, level=args.level,
                    **options), notes


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 2 bad input, 1 internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = None
    try:
        args = _parser().parse_args(argv)
        path = args.file
        if not 0 < args.level < 100:
            raise InputError(f"--level must lie strictly between 0 and 100, not {args.level:g}")
        result, notes = pool(read_table(args.file), args)
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
