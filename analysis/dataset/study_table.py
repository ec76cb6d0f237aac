"""A table of studies for pooling (the input of ``python -m analysis pool``), read and pooled.

The CSV has a ``study`` column and one kind of data per row:

- ``n1, mean1, sd1, n2, mean2, sd2`` (SMD, MD),
- ``events1, total1, events2, total2`` (RR, OR, RD; the only input for MH and PETO),
- ``yi`` with ``vi``, ``sei`` or ``ci_low`` and ``ci_high`` (any measure; ``yi`` is on the log
  scale for RR/OR with ``vi``/``sei``, on the ratio scale with a CI).

Arm 1 is peer support; positive effects favour it. Every problem is an :class:`InputError`
naming the line, column and value of the file.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass

from analysis.stats import meta
from analysis.stats.effects import BINARY_COLUMNS, CONTINUOUS_COLUMNS, EffectInputError, escalc

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


@dataclass(frozen=True)
class PoolOptions:
    """What to compute: the measure and the pooling conventions (None = the preset's or default)."""

    measure: str
    method: str | None = None
    ci: str | None = None
    pi: str | None = None
    preset: str | None = None
    vtype: str | None = None
    level: float = 95.0


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


def _vtype(options: PoolOptions) -> str | None:
    if options.vtype is not None:
        if options.measure not in ("SMD", "MD"):
            raise InputError(f"--vtype applies to SMD and MD, not {options.measure}")
        return options.vtype
    if options.measure == "SMD" and options.preset is not None:
        return meta.PRESETS[options.preset].vtype
    return {"SMD": "LS", "MD": "HE"}.get(options.measure)


def _labels(table: Table) -> list[str]:
    labels = [row["study"].strip() for row in table.rows]
    for line, label, row in zip(table.lines, labels, table.rows):
        if not label:
            raise InputError("study label is missing", line, "study", row["study"])
    return labels


def effect_sizes(table: Table, options: PoolOptions, labels: list[str], data: dict[str, list[float]]):
    """Validated effect sizes of the table; input errors are located in the file."""
    variance = {"vtype": vtype} if (vtype := _vtype(options)) is not None else {}
    try:
        return escalc(options.measure, labels=labels, level=options.level, **variance, **data)
    except EffectInputError as exc:
        raise InputError(exc.rule, table.lines[exc.index], exc.column,
                         table.rows[exc.index][exc.column].strip()) from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


def pool(table: Table, options: PoolOptions):
    """The pooled result of a table of studies, and notes on excluded studies."""
    columns = _data_columns(table, options.measure, options.method)
    labels = _labels(table)
    data = {column: table.numbers(column) for column in columns}
    es = effect_sizes(table, options, labels, data)
    if not es.labels:
        raise InputError(f"no study left to pool: all {len(es.excluded)} excluded "
                         f"({es.excluded[0]['reason']})")
    if options.method in TABLE_METHODS:
        if options.ci is not None or options.pi is not None:
            raise InputError(f"--ci and --pi do not apply to --method {options.method}")
        # the 2x2 tables are pooled as they are (double-zero tables included, as metafor's
        # rma.mh and rma.peto do); escalc only validated them
        if options.method == "MH":
            return meta.rma_mh(**data, measure=options.measure, labels=labels, level=options.level), []
        return meta.rma_peto(**data, labels=labels, level=options.level), []
    conventions = {name: value for name, value in
                   (("method", options.method), ("ci", options.ci), ("pi", options.pi), ("preset", options.preset))
                   if value is not None}
    notes = [f"study {e['study']!r} excluded: {e['reason']}" for e in es.excluded]
    return meta.rma(es.yi, es.vi, labels=es.labels, measure=es.measure, level=options.level,
                    **conventions), notes
