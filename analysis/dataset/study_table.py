"""A table of studies (the input of ``python -m analysis pool`` and of the other engine verbs).

The CSV has a ``study`` column and one kind of data per row:

- ``n1, mean1, sd1, n2, mean2, sd2`` (SMD, MD),
- ``events1, total1, events2, total2`` (RR, OR, RD; the only input for MH and PETO),
- ``yi`` with ``vi``, ``sei`` or ``ci_low`` and ``ci_high`` (any measure; ``yi`` is on the log
  scale for RR/OR with ``vi``/``sei``, on the ratio scale with a CI).

Further columns serve the other analyses: ``cluster`` (the trial of each comparison, for
``--model multilevel``), the subgroup column of ``subgroup --by``, the moderators of
``metareg --mods`` and the sort key of ``cumul --order``.

Arm 1 is peer support; positive effects favour it. Every problem is an :class:`InputError`
naming the line, column and value of the file.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass

import numpy as np

from analysis.stats import bias, meta, moderators, multilevel, sensitivity
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
    """What to compute: the measure and the pooling conventions (None = the preset's or default).

    ``model="multilevel"`` pools comparisons within trials (the ``cluster`` column), with
    ``robust`` cluster-robust inference and ``rho`` the assumed within-trial sampling
    correlation (the CHE working model).
    """

    measure: str
    method: str | None = None
    ci: str | None = None
    pi: str | None = None
    preset: str | None = None
    vtype: str | None = None
    level: float = 95.0
    model: str = "univariate"
    robust: bool = False
    rho: float | None = None


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

    def require(self, column: str, why: str) -> None:
        """An :class:`InputError` at the header unless ``column`` is in it."""
        if column not in self.header:
            raise InputError(f"required column is missing ({why})", 1, column)

    def texts(self, column: str, rows=None) -> list[str]:
        """The column as stripped text; an empty cell is an error (every value is needed)."""
        positions = range(len(self.rows)) if rows is None else rows
        values = []
        for i in positions:
            text = self.rows[i][column].strip()
            if not text:
                raise InputError("missing value", self.lines[i], column, self.rows[i][column])
            values.append(text)
        return values

    def complete_numbers(self, column: str, rows=None) -> list[float]:
        """The column as floats, every value present (``rows``: positions to read)."""
        values = self.numbers(column)
        positions = range(len(self.rows)) if rows is None else rows
        out = []
        for i in positions:
            if math.isnan(values[i]):
                raise InputError("missing value", self.lines[i], column, self.rows[i][column])
            out.append(values[i])
        return out

    def is_numeric(self, column: str) -> bool:
        """True when every non-empty cell of the column is a number."""
        try:
            self.numbers(column)
        except InputError:
            return False
        return True


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


@dataclass
class Fitted:
    """A pooled result and, for each of its studies, the position of its row in the table."""

    result: object
    rows: list[int]
    notes: list[str]


def fit_table(table: Table, options: PoolOptions) -> Fitted:
    """The table pooled as ``options`` say (``pool``), keeping the row of every pooled study."""
    columns = _data_columns(table, options.measure, options.method)
    labels = _labels(table)
    data = {column: table.numbers(column) for column in columns}
    es = effect_sizes(table, options, labels, data)
    if not es.labels:
        raise InputError(f"no study left to pool: all {len(es.excluded)} excluded "
                         f"({es.excluded[0]['reason']})")
    rows = list(range(len(labels))) if es.rows is None else [int(i) for i in es.rows]
    if options.model == "multilevel":
        return Fitted(_multilevel(table, options, es, rows), rows, _excluded_notes(es))
    if options.robust or options.rho is not None:
        raise InputError("--robust and --rho apply to --model multilevel")
    if options.method in TABLE_METHODS:
        if options.ci is not None or options.pi is not None:
            raise InputError(f"--ci and --pi do not apply to --method {options.method}")
        # the 2x2 tables are pooled as they are (double-zero tables included, as metafor's
        # rma.mh and rma.peto do); escalc only validated them
        try:
            if options.method == "MH":
                result = meta.rma_mh(**data, measure=options.measure, labels=labels, level=options.level)
            else:
                result = meta.rma_peto(**data, labels=labels, level=options.level)
        except meta.UndefinedEstimateError as exc:
            raise InputError(str(exc)) from None
        return Fitted(result, list(range(len(labels))), [])
    if options.ci == "t":
        raise InputError("--ci t applies to --model multilevel (Knapp-Hartung is --ci hk)")
    conventions = {name: value for name, value in
                   (("method", options.method), ("ci", options.ci), ("pi", options.pi), ("preset", options.preset))
                   if value is not None}
    result = meta.rma(es.yi, es.vi, labels=es.labels, measure=es.measure, level=options.level,
                      ni=es.ni, **conventions)
    return Fitted(result, rows, _excluded_notes(es))


def _excluded_notes(es) -> list[str]:
    return [f"study {e['study']!r} excluded: {e['reason']}" for e in es.excluded]


def _multilevel(table: Table, options: PoolOptions, es, rows):
    table.require("cluster", "--model multilevel needs the trial of each comparison")
    if options.method is not None and options.method not in multilevel.METHODS:
        raise InputError(f"--method {options.method} does not apply to --model multilevel "
                         f"(use {' or '.join(multilevel.METHODS)})")
    if options.ci not in (None, *multilevel.TESTS):
        raise InputError(f"--ci {options.ci} does not apply to --model multilevel (use z or t)")
    if options.pi is not None or options.preset is not None:
        raise InputError("--pi and --preset do not apply to --model multilevel")
    clusters = table.texts("cluster", rows)
    try:
        return multilevel.rma_multilevel(es.yi, es.vi, clusters, rho=options.rho,
                                         method=options.method or "REML", test=options.ci or "z",
                                         level=options.level, labels=es.labels,
                                         measure=es.measure, robust=options.robust)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def pool(table: Table, options: PoolOptions):
    """The pooled result of a table of studies, and notes on excluded studies."""
    fitted = fit_table(table, options)
    return fitted.result, fitted.notes


# ---------------------------------------------------------------------------------------------
# the other verbs: each pools the table as ``pool`` does, then analyses the fit


def _univariate(table: Table, options: PoolOptions, verb: str) -> Fitted:
    if options.model != "univariate":
        raise InputError(f"{verb} analyses the univariate model (no --model {options.model})")
    return fit_table(table, options)


def _engine(call):
    """Run an engine verb; its refusals (ValueError) become one-line input errors."""
    try:
        return call()
    except meta.ConvergenceError as exc:
        raise InputError(f"no convergence: {exc}") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


def subgroup(table: Table, options: PoolOptions, by: str, tau2: str = "separate"):
    """Subgroup analysis by the column ``by`` (``moderators.subgroup``)."""
    table.require(by, "subgroup --by names the column of the subgroups")
    fitted = _univariate(table, options, "subgroup")
    groups = table.texts(by, fitted.rows)
    return _engine(lambda: moderators.subgroup(fitted.result, groups, tau2=tau2)), fitted.notes


_TERM = re.compile(r"^(?:factor\(\s*(?P<factor>[A-Za-z_.][\w.]*)\s*\)|(?P<name>[A-Za-z_.][\w.]*))$")


def parse_formula(text: str) -> tuple[list[tuple[str, bool]], bool]:
    """Moderator terms of a formula such as ``"~ weeks + factor(tester)"`` or ``"x + g - 1"``.

    Terms are column names (numeric columns enter as they are, others as categorical) or
    ``factor(column)`` (always categorical), joined by ``+``; ``- 1`` or ``+ 0`` removes the
    intercept. Returns ``[(column, categorical)]`` and whether there is an intercept.
    """
    body = text.strip()
    if body.startswith("~"):
        body = body[1:]
    intercept = True
    tokens = re.split(r"([+-])", body)
    sign = "+"
    terms: list[tuple[str, bool]] = []
    for token in tokens:
        token = token.strip()
        if token in ("+", "-"):
            sign = token
            continue
        if not token:
            continue
        if token in ("0", "1"):
            if (sign == "-" and token == "1") or (sign == "+" and token == "0"):
                intercept = False
            elif not (sign == "+" and token == "1"):
                raise InputError(f"--mods: cannot read '{sign} {token}' in {text!r}")
            continue
        match = _TERM.match(token)
        if match is None or sign == "-":
            raise InputError(f"--mods: cannot read the term {token!r} in {text!r} (use column "
                             "names, factor(column), + and - 1)")
        name = match.group("factor") or match.group("name")
        if name in (t[0] for t in terms):
            raise InputError(f"--mods: the term {name!r} appears twice in {text!r}")
        terms.append((name, match.group("factor") is not None))
    if not terms:
        raise InputError(f"--mods: no moderator in {text!r}")
    return terms, intercept


def metareg(table: Table, options: PoolOptions, formula: str):
    """Meta-regression on the moderators of ``formula`` (``moderators.metareg``)."""
    terms, intercept = parse_formula(formula)
    for name, _ in terms:
        table.require(name, f"--mods uses the column {name}")
    fitted = _univariate(table, options, "metareg")
    res = fitted.result
    if res.settings.get("function") != "rma":
        raise InputError("metareg needs an inverse-variance fit (not --method MH or PETO)")
    mods = {}
    for name, categorical in terms:
        if categorical or not table.is_numeric(name):
            mods[name] = table.texts(name, fitted.rows)
        else:
            mods[name] = np.array(table.complete_numbers(name, fitted.rows))
    out = _engine(lambda: moderators.metareg(res.yi, res.vi, mods, method=res.method,
                                             ci=res.ci_method, level=res.level, labels=res.labels,
                                             intercept=intercept))
    return out, fitted.notes


def leave1out(table: Table, options: PoolOptions):
    """Leave-one-out frame (``sensitivity.leave_one_out``)."""
    fitted = _univariate(table, options, "leave1out")
    return _engine(lambda: sensitivity.leave_one_out(fitted.result)), fitted.notes


def influence(table: Table, options: PoolOptions):
    """Influence diagnostics (``sensitivity.influence``)."""
    fitted = _univariate(table, options, "influence")
    return _engine(lambda: sensitivity.influence(fitted.result)), fitted.notes


def cumul(table: Table, options: PoolOptions, order: str | None = None):
    """Cumulative meta-analysis in the order of the numeric column ``order`` (data order if None)."""
    if order is not None:
        table.require(order, "cumul --order names the column to sort by")
    fitted = _univariate(table, options, "cumul")
    keys = None if order is None else table.complete_numbers(order, fitted.rows)
    return _engine(lambda: sensitivity.cumulative(fitted.result, by=keys)), fitted.notes


def regtest(table: Table, options: PoolOptions, model: str = "rma", predictor: str = "sei"):
    """Regression test for funnel plot asymmetry (``bias.regtest``)."""
    fitted = _univariate(table, options, "regtest")
    return _engine(lambda: bias.regtest(fitted.result, model=model, predictor=predictor)), fitted.notes


def ranktest(table: Table, options: PoolOptions):
    """Rank correlation test (``bias.ranktest``)."""
    fitted = _univariate(table, options, "ranktest")
    return _engine(lambda: bias.ranktest(fitted.result)), fitted.notes


def trimfill(table: Table, options: PoolOptions, estimator: str = "L0", side: str | None = None):
    """Trim-and-fill (``bias.trimfill``)."""
    fitted = _univariate(table, options, "trimfill")
    return _engine(lambda: bias.trimfill(fitted.result, estimator=estimator, side=side)), fitted.notes
