"""The review's dataset: typed reading, validation, curation, domain slices, effect sizes.

This is the one loader of ``data/`` and the one validator (``python -m analysis check`` only
formats what :func:`check` finds). Every problem is an :class:`Issue` naming file, line, column,
value and rule, so that a maintainer's typo stops the build with a message that says where it is.

Reading rules (strict, because a silently mis-read cell becomes a wrong number in the book):

- UTF-8 without byte-order mark; invalid bytes and mojibake (UTF-8 read as latin-1, e.g.
  ``"RÃ¼sch"``) are errors.
- Comma delimiter, dot decimals; a semicolon-delimited file and decimal commas are named as such.
- The header must list exactly the schema's fields **in the schema's order** (the order of
  ``datapackage.json`` and docs/DESIGN.md): a reordered header is an error, so that diffs of the
  data stay readable and a column cannot silently swap meaning with its neighbour.
- An empty cell is missing; ``NA``, ``nan``, ``inf`` in a number column are errors, as are blank
  lines and numbers beyond +/- 1e12 (no count, score or effect of this review comes near; larger
  values overflow when squared in a variance).
- Types and constraints come from the Frictionless Table Schema in ``datapackage.json``
  (``string``, ``integer``, ``number``, ``boolean``, ``year``, ``date``; ``required``, ``enum``,
  ``minimum``, ``maximum``, ``pattern``, ``minLength``, ``maxLength``, ``unique``; ``primaryKey``;
  ``foreignKeys``). The foreign keys of the data contract are checked even if the schema omits them.

Domain rules (errors) and plausibility checks (warnings) follow; warnings never fail a check.
With curation (the default) a warning on a row that the curation log excludes or flags is
accounted for: it is reported as a ``note`` citing the decision.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

SEVERITIES = ("error", "warning", "note")

#: Largest magnitude accepted in a number cell (see module docstring).
MAX_ABS_NUMBER = 1e12

#: An SD below this fraction of the instrument's scale range is implausible: 95% of a sample
#: would then lie within 20% of the scale. A standard error entered as SD shrinks a typical SD
#: (10-25% of the range) by sqrt(n) >= 5 for n >= 25, i.e. to 2-5% of the range. For an
#: instrument without a known range (scoring differs between trials) the same fraction of the
#: arm's |mean| is used: a coefficient of variation below 5% (95% of participants within +/-10%
#: of the mean score). In the Metapsy import the smallest genuine ratio SD/|mean| is 0.08
#: (Shorey 2019), the SE-as-SD rows of Salzer 2016 give 0.019 and 0.030.
SD_MIN_FRACTION = 1 / 20

#: Largest tolerated difference between Hedges' g recomputed from the arm data and the g the
#: source printed (rounding of means and SDs to two decimals moves g by less than 0.01).
G_TOLERANCE = 0.05

#: Converting a log odds ratio to a standardised mean difference: g = ln(OR) sqrt(3)/pi,
#: var = var(ln OR) 3/pi^2 (Chinn 2000, Stat Med 19:3127; Cochrane Handbook 10.6).
LOG_OR_TO_SMD = math.sqrt(3) / math.pi

#: Keys and foreign keys of the data contract (docs/DESIGN.md); used when the schema omits them.
CONTRACT_KEYS = {
    "studies": ["study_id"], "study_reviews": ["study_id", "review_id"], "outcomes": ["outcome_id"],
    "instruments": ["instrument"], "risk_of_bias": ["study_id", "outcome_id"],
    "curation": ["curation_id"], "published_estimates": ["estimate_id"], "reviews": ["review_id"],
}
CONTRACT_FOREIGN_KEYS = [
    ("outcomes", ("study_id",), "studies", ("study_id",)),
    ("outcomes", ("instrument",), "instruments", ("instrument",)),
    ("risk_of_bias", ("study_id",), "studies", ("study_id",)),
    ("risk_of_bias", ("outcome_id",), "outcomes", ("outcome_id",)),
    ("curation", ("study_id",), "studies", ("study_id",)),
    ("curation", ("outcome_id",), "outcomes", ("outcome_id",)),
    ("study_reviews", ("study_id",), "studies", ("study_id",)),
]
REQUIRED_TABLES = ("studies", "outcomes", "instruments")
#: Tables that may legitimately hold no rows (an empty curation log).
MAY_BE_EMPTY = {"curation"}

REQUIRED_BY_TYPE = {
    "msd": ("n1", "mean1", "sd1", "n2", "mean2", "sd2"),
    "events": ("events1", "total1", "events2", "total2"),
    "effect-se": ("yi", "sei"),
}
DOMAIN_MEASURES = {"SMD": {"msd", "events", "effect-se"}, "MD": {"msd"},
                   "RR": {"events"}, "OR": {"events"}, "RD": {"events"}, "GEN": {"effect-se"}}
DOMAIN_KEYS = ("id", "title", "measure", "select", "description")
SELECTORS = ("category", "subdomain")
SLUG = re.compile(r"[a-z0-9-]+")
VERSION = re.compile(r"\d{2}\.\d+\.\d+")

# ASCII digits only: \d would accept any Unicode digit (e.g. full-width digits typed with an IME)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_NOT_FINITE = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_MISSING_CODES = {"na", "n/a", "nr", "null", "none", "-", "."}
# Lead bytes of 2-byte UTF-8 sequences (Ã, Â) or the 3-byte punctuation prefix (â€) as latin-1 /
# Windows-1252 renders them, followed by a continuation byte rendered the same way.
_CONTINUATION = bytes(range(0x80, 0xC0)).decode("cp1252", errors="ignore") + "\x81\x8d\x8f\x90\x9d"
_MOJIBAKE = re.compile(f"[\u00c2\u00c3][{re.escape(_CONTINUATION)}]|\u00e2\u20ac")


# --------------------------------------------------------------------------- issues


@dataclass(frozen=True)
class Issue:
    """One problem found in the data, rendered as
    ``data/outcomes.csv:17: column 'sd1': value '-1': rule sd-positive: SD must be > 0``."""

    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.value is not None:
            parts.append(f"value '{self.value}'")
        parts.append(f"rule {self.rule}")
        parts.append(self.message)
        return ": ".join(parts)

    def sort_key(self) -> tuple:
        return (self.file, self.line or 0, SEVERITIES.index(self.severity), self.column or "", self.rule)

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "value": self.value,
                "rule": self.rule, "message": self.message, "severity": self.severity}


class DataError(Exception):
    """The dataset has errors; ``.issues`` lists all of them (errors first, then the rest)."""

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(issues, key=lambda i: (i.severity != "error",) + i.sort_key())
        errors = [i for i in self.issues if i.severity == "error"]
        head = "; ".join(str(i) for i in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} error(s) in the data: {head}{more}")


@dataclass
class Dataset:
    """The loaded dataset. Frames keep the source line of every row in ``_line``.

    ``outcomes`` is the analysed view: the curated view (``set`` applied, ``exclude`` dropped)
    when loaded with ``curated=True``, else the raw rows; ``raw_outcomes`` is always the raw file.
    ``applied`` lists the curation decisions applied (one dict per curation row).
    """

    studies: pd.DataFrame
    outcomes: pd.DataFrame
    raw_outcomes: pd.DataFrame
    instruments: pd.DataFrame
    rob: pd.DataFrame
    curation: pd.DataFrame
    study_reviews: pd.DataFrame
    published: pd.DataFrame
    reviews: pd.DataFrame
    domains: list[dict]
    version: str
    issues: list[Issue]
    applied: list[dict]
    curated: bool = True


# --------------------------------------------------------------------------- typed reading


@dataclass
class Table:
    """A typed CSV table: ``rows`` (dicts of typed values, None = missing), their ``lines``."""

    name: str
    file: str
    fields: list[dict]
    rows: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    raw: list[dict] = field(default_factory=list)

    def field_named(self, name: str) -> dict | None:
        return next((f for f in self.fields if f["name"] == name), None)

    def frame(self) -> pd.DataFrame:
        columns = [f["name"] for f in self.fields]
        frame = pd.DataFrame(self.rows, columns=columns)
        for f in self.fields:
            frame[f["name"]] = _column_dtype(frame[f["name"]], f.get("type", "string"))
        frame["_line"] = pd.Series(self.lines, dtype="int64")
        return frame


def _column_dtype(column: pd.Series, kind: str) -> pd.Series:
    if kind == "number":
        return pd.to_numeric(column, errors="coerce").astype("float64")
    if kind in ("integer", "year"):
        return column.astype("Int64")
    if kind == "boolean":
        return column.astype("boolean")
    return column.astype(object).where(column.notna(), None)


def _decode(data: bytes, file: str) -> tuple[str, list[Issue]]:
    """UTF-8 text; invalid bytes are kept as lone surrogates (``surrogateescape``) so that the
    cell holding them can be reported with its line and column (see :func:`parse_cell`)."""
    issues = []
    if data.startswith(b"\xef\xbb\xbf"):
        issues.append(Issue(file, 1, None, None, "bom",
                            "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM"))
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape"), issues


def _printable(text: str) -> str:
    """``text`` with undecodable bytes shown as ``\\xNN``."""
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else c for c in text)


def _encoding_problem(text: str) -> tuple[str, str] | None:
    if text == _printable(text):
        return None
    as_latin1 = "".join(bytes([ord(c) - 0xDC00]).decode("cp1252", errors="replace")
                        if "\udc80" <= c <= "\udcff" else c for c in text)
    return "encoding", f"not valid UTF-8 (as latin-1: '{as_latin1}'); save the file as UTF-8"


def _mojibake(text: str) -> str | None:
    """The repaired text if ``text`` looks like UTF-8 mis-read as latin-1, else None."""
    if not _MOJIBAKE.search(text):
        return None
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return "?"


def read_table(path: Path, schema: dict, name: str, file: str) -> tuple[Table, list[Issue]]:
    """Read one CSV file against its Table Schema.

    Parameters
    ----------
    path : the CSV file.
    schema : the resource's Table Schema (``fields``, ``primaryKey``, ``foreignKeys``, ``missingValues``).
    name : table name (file stem, e.g. ``outcomes``).
    file : how messages name the file (e.g. ``data/outcomes.csv``).

    Returns
    -------
    (Table, issues). Rows with a wrong number of fields are reported and skipped; cells that do
    not parse are reported and kept as missing, so that later rules still see the rest of the row.
    """
    fields = schema.get("fields", [])
    table = Table(name, file, fields)
    if not path.exists():
        return table, [Issue(file, None, None, None, "missing-file", "file listed in datapackage.json not found")]
    data = path.read_bytes()
    if not data.strip():
        return table, [Issue(file, 1, None, None, "empty-file", "file is empty; expected a header line")]
    text, issues = _decode(data, file)
    records = _records(text)
    header_line, header = records[0]
    header_issues, positions = _check_header(header, fields, file, header_line)
    issues += header_issues
    if any(i.rule == "delimiter" for i in header_issues):
        return table, issues
    missing = set(schema.get("missingValues", [""]))
    for line, cells in records[1:]:
        if not cells:
            issues.append(Issue(file, line, None, None, "blank-line", "blank line; remove it"))
            continue
        if len(cells) != len(header):
            hint = "; a decimal comma or an unquoted comma in a text?" if len(cells) > len(header) else ""
            issues.append(Issue(file, line, None, None, "field-count",
                                f"row has {len(cells)} fields, the header has {len(header)}{hint}"))
            continue
        row, raw = {}, {}
        for f in fields:
            pos = positions.get(f["name"])
            cell = cells[pos] if pos is not None else ""
            raw[f["name"]] = cell
            value, problem = parse_cell(cell, f, missing)
            if problem:
                issues.append(Issue(file, line, f["name"], _printable(cell), *problem))
            row[f["name"]] = value
        table.rows.append(row)
        table.raw.append(raw)
        table.lines.append(line)
    if not table.rows and name not in MAY_BE_EMPTY and not issues:
        issues.append(Issue(file, header_line, None, None, "no-rows", "file has a header but no rows"))
    issues += _check_unique(table, schema.get("primaryKey") or CONTRACT_KEYS.get(name))
    return table, issues


def _records(text: str) -> list[tuple[int, list[str]]]:
    """CSV records with the line on which each starts (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records, line = [], 1
    for cells in reader:
        records.append((line, cells))
        line = reader.line_num + 1
    return records


def _check_header(header: list[str], fields: list[dict], file: str, line: int) -> tuple[list[Issue], dict]:
    expected = [f["name"] for f in fields]
    joined = ",".join(header)
    if len(header) == 1 and ";" in joined and len(expected) > 1:
        return [Issue(file, line, None, None, "delimiter",
                      "file is semicolon-delimited (decimal commas likely too); "
                      "the dataset uses commas as delimiter and dots as decimal mark")], {}
    issues, positions = [], {}
    for pos, name in enumerate(header):
        problem = _encoding_problem(name)
        if problem:
            issues.append(Issue(file, line, _printable(name), None, *problem))
            name = _printable(name)
        if name in positions:
            issues.append(Issue(file, line, name, None, "duplicate-column",
                                f"column appears twice (positions {positions[name] + 1} and {pos + 1})"))
        else:
            positions[name] = pos
        fixed = _mojibake(name)
        if name not in expected:
            hint = f"; did you mean '{fixed}'?" if fixed else ""
            issues.append(Issue(file, line, name, None, "extra-column", f"column not in the schema{hint}"))
    for name in expected:
        if name not in positions:
            issues.append(Issue(file, line, name, None, "missing-column", "column of the schema missing"))
    if not issues and header != expected:
        issues.append(Issue(file, line, None, None, "column-order",
                            "columns not in the schema's order; expected: " + ",".join(expected)))
    return issues, positions


def parse_cell(cell: str, f: dict, missing: set) -> tuple[object, tuple[str, str] | None]:
    """Parse one cell by its Table Schema field; return (value, None) or (None, (rule, message))."""
    kind = f.get("type", "string")
    constraints = f.get("constraints", {})
    if cell in missing:
        if constraints.get("required"):
            return None, ("required", "value required")
        return None, None
    problem = _encoding_problem(cell)
    if problem:
        return None, problem
    fixed = _mojibake(cell)
    if fixed:
        return None, ("mojibake", f"looks like UTF-8 read as latin-1 (did you mean '{fixed}'?)")
    value, problem = _typed(cell, kind, f)
    if problem:
        return None, problem
    problem = _check_constraints(value, cell, kind, constraints)
    return (None, problem) if problem else (value, None)


def _typed(cell: str, kind: str, f: dict) -> tuple[object, tuple[str, str] | None]:
    if cell != cell.strip():
        return None, ("whitespace", "leading or trailing space")
    if kind in ("number", "integer", "year") and cell.lower() in _MISSING_CODES:
        return None, ("missing-code", "a missing-value code; leave the cell empty for a missing value")
    if kind == "number":
        if cell.lower() in _NOT_FINITE:
            return None, ("not-finite", "not a finite number; leave the cell empty for a missing value")
        if _DECIMAL_COMMA.fullmatch(cell):
            return None, ("decimal-comma", "decimal comma; use a dot as decimal mark")
        if not _NUMBER.fullmatch(cell):
            return None, ("type", "expected a number")
        value = float(cell)
        if not math.isfinite(value) or abs(value) > MAX_ABS_NUMBER:
            return None, ("number-range", f"|value| > {MAX_ABS_NUMBER:g}: implausibly large (a typo?)")
        return value, None
    if kind in ("integer", "year"):
        pattern = re.compile(r"\d{4}", re.ASCII) if kind == "year" else _INTEGER
        if not pattern.fullmatch(cell):
            return None, ("type", "expected a four-digit year" if kind == "year" else "expected an integer")
        if len(cell.lstrip("+-")) > 15:  # beyond MAX_ABS_NUMBER (and int() refuses > 4300 digits)
            return None, ("number-range", f"|value| > {MAX_ABS_NUMBER:g}: implausibly large (a typo?)")
        value = int(cell)
        if abs(value) > MAX_ABS_NUMBER:
            return None, ("number-range", f"|value| > {MAX_ABS_NUMBER:g}: implausibly large (a typo?)")
        return value, None
    if kind == "boolean":
        true = f.get("trueValues", ["true", "True", "TRUE", "1"])
        false = f.get("falseValues", ["false", "False", "FALSE", "0"])
        if cell in true:
            return True, None
        if cell in false:
            return False, None
        return None, ("type", f"expected a boolean ({true[0]}/{false[0]})")
    if kind == "date":
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell):
                raise ValueError
            return date.fromisoformat(cell).isoformat(), None
        except ValueError:
            return None, ("type", "expected a date YYYY-MM-DD")
    return cell, None


def _check_constraints(value, cell: str, kind: str, c: dict) -> tuple[str, str] | None:
    if "enum" in c:
        allowed = [_typed(str(v), kind, {})[0] if kind != "string" else v for v in c["enum"]]
        if value not in allowed:
            return "enum", "must be one of " + ", ".join(str(v) for v in c["enum"])
    if "minimum" in c and value < c["minimum"]:
        return "minimum", f"must be >= {c['minimum']}"
    if "maximum" in c and value > c["maximum"]:
        return "maximum", f"must be <= {c['maximum']}"
    if "pattern" in c and not re.fullmatch(c["pattern"], cell):
        return "pattern", f"must match {c['pattern']}"
    if "minLength" in c and len(cell) < c["minLength"]:
        return "min-length", f"must have at least {c['minLength']} characters"
    if "maxLength" in c and len(cell) > c["maxLength"]:
        return "max-length", f"must have at most {c['maxLength']} characters"
    return None


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _check_unique(table: Table, key) -> list[Issue]:
    issues = []
    checks = [(f["name"],) for f in table.fields if f.get("constraints", {}).get("unique")]
    key = tuple(_as_list(key))
    if key and all(table.field_named(k) for k in key) and key not in checks:
        checks.append(key)
    for cols in checks:
        seen = {}
        for row, line in zip(table.rows, table.lines):
            values = tuple(row[c] for c in cols)
            if len(cols) == 1 and values[0] is None:
                continue
            if values in seen:
                rule = "primary-key" if cols == key else "unique"
                shown = ",".join("" if v is None else str(v) for v in values)
                issues.append(Issue(table.file, line, ",".join(cols), shown, rule,
                                    f"duplicate of line {seen[values]}"))
            else:
                seen[values] = line
    return issues


def _check_foreign_keys(tables: dict[str, Table], schemas: dict[str, dict], names: dict[str, str]) -> list[Issue]:
    links = set()
    for name, schema in schemas.items():
        for fk in schema.get("foreignKeys", []):
            ref = fk.get("reference", {})
            target = names.get(ref.get("resource") or name, ref.get("resource"))
            links.add((name, tuple(_as_list(fk.get("fields"))), target, tuple(_as_list(ref.get("fields")))))
    links.update(CONTRACT_FOREIGN_KEYS)
    issues = []
    for name, cols, target, ref_cols in sorted(links):
        if name not in tables or target not in tables:
            continue
        table, ref = tables[name], tables[target]
        if not all(table.field_named(c) for c in cols) or not all(ref.field_named(c) for c in ref_cols):
            continue
        known = {tuple(r[c] for c in ref_cols) for r in ref.rows}
        for row, line in zip(table.rows, table.lines):
            values = tuple(row[c] for c in cols)
            if any(v is None for v in values) or values in known:
                continue
            issues.append(Issue(table.file, line, ",".join(cols), ",".join(map(str, values)), "foreign-key",
                                f"not found in {ref.file} ({','.join(ref_cols)})"))
    return issues


# --------------------------------------------------------------------------- the package


#: Table Schema field types the reader understands.
FIELD_TYPES = {"string", "number", "integer", "year", "boolean", "date"}


def _read_package(data_dir: Path, label: str) -> tuple[dict | None, list[Issue]]:
    file = f"{label}/datapackage.json"
    path = data_dir / "datapackage.json"
    if not path.exists():
        return None, [Issue(file, None, None, None, "missing-file", "datapackage.json not found")]
    try:
        package = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, [Issue(file, None, None, None, "encoding", "not valid UTF-8")]
    except json.JSONDecodeError as exc:
        return None, [Issue(file, exc.lineno, None, None, "json", f"not valid JSON: {exc.msg}")]
    issues = []
    if not isinstance(package, dict) or not isinstance(package.get("resources"), list):
        return None, [Issue(file, None, "resources", None, "datapackage", "no list of resources")]
    version = package.get("version")
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        issues.append(Issue(file, None, "version", str(version), "version", "expected YY.MINOR.PATCH"))
    for res in package["resources"]:
        if not isinstance(res, dict) or not str(res.get("path", "")).endswith(".csv"):
            continue
        where = f"resources[{res.get('name', res.get('path'))}]"
        schema = res.get("schema")
        if isinstance(schema, str):
            if not (data_dir / schema).exists():
                issues.append(Issue(file, None, f"{where}.schema", schema, "schema-missing",
                                    "the schema file does not exist"))
                continue
            try:
                schema = json.loads((data_dir / schema).read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                issues.append(Issue(file, None, f"{where}.schema", res["schema"], "schema-json", f"not valid JSON: {exc}"))
                continue
        if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
            issues.append(Issue(file, None, where, None, "schema-missing", "a CSV resource needs a schema with fields"))
            continue
        for f in schema["fields"]:
            kind = f.get("type", "string") if isinstance(f, dict) else None
            if kind not in FIELD_TYPES:
                issues.append(Issue(file, None, f"{where}.{f.get('name') if isinstance(f, dict) else f}", str(kind),
                                    "schema-type", f"unknown field type; one of {', '.join(sorted(FIELD_TYPES))}"))
    return package, issues


def _read_domains(data_dir: Path, label: str) -> tuple[list[dict], list[tuple[int, dict]], list[Issue]]:
    """Parse domains.yml; return (domains, [(line, domain)], issues)."""
    file = f"{label}/domains.yml"
    path = data_dir / "domains.yml"
    if not path.exists():
        return [], [], [Issue(file, None, None, None, "missing-file", "domains.yml not found")]
    text, issues = _decode(path.read_bytes(), file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        domains = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [], issues + [Issue(file, line, None, None, "yaml", f"not valid YAML: {problem}")]
    if not isinstance(domains, list) or not isinstance(node, yaml.SequenceNode):
        return [], [], issues + [Issue(file, 1, None, None, "domains", "expected a list of domains")]
    located, seen = [], {}
    for item, item_node in zip(domains, node.value):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            issues.append(Issue(file, line, None, None, "domains", "each domain must be a mapping"))
            continue
        problem = _domain_problem(item)
        if problem:
            issues.append(Issue(file, line, *problem))
            continue
        if item["id"] in seen:
            issues.append(Issue(file, line, "id", item["id"], "domain-id", f"duplicate of line {seen[item['id']]}"))
            continue
        seen[item["id"]] = line
        located.append((line, item))
    return [d for _, d in located], located, issues


def _domain_problem(item: dict) -> tuple | None:
    for key in DOMAIN_KEYS:
        if key not in item:
            return key, None, "domains", f"domain lacks '{key}'"
    extra = sorted(set(item) - set(DOMAIN_KEYS))
    if extra:
        return extra[0], None, "domains", "unknown key (expected " + ", ".join(DOMAIN_KEYS) + ")"
    if not isinstance(item["id"], str) or not SLUG.fullmatch(item["id"]):
        return "id", str(item["id"]), "domain-id", "id must be a lowercase slug [a-z0-9-]+"
    if item["measure"] not in DOMAIN_MEASURES:
        return "measure", str(item["measure"]), "domain-measure", "measure must be one of " + ", ".join(DOMAIN_MEASURES)
    # the title becomes the chapter's page title, which the book theme also prints unescaped
    if not isinstance(item["title"], str) or not item["title"].strip() or set("<>") & set(item["title"]):
        return "title", str(item["title"]), "domain-title", "title must be plain text (no '<' or '>')"
    select = item["select"]
    if not (isinstance(select, dict) and len(select) == 1 and next(iter(select)) in SELECTORS):
        return "select", _flow(select), "domain-select", "select must be {category: [...]} or {subdomain: [...]}"
    values = next(iter(select.values()))
    if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
        return "select", _flow(select), "domain-select", "select needs a non-empty list of names"
    return None


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip()


def _read_all(data_dir, curated: bool):
    """Read and validate everything; return (tables, package, domains, curated view, applied, issues)."""
    data_dir = Path(data_dir)
    label = str(data_dir).rstrip("/") or "."
    package, issues = _read_package(data_dir, label)
    tables, schemas, names = {}, {}, {}
    if any(i.rule.startswith("schema-") for i in issues):
        return tables, package, [], None, [], issues   # no table can be read without its schema
    if package is not None:
        for res in package["resources"]:
            path = res.get("path") if isinstance(res, dict) else None
            if not isinstance(path, str) or not path.endswith(".csv"):
                continue
            name = Path(path).stem
            names[res.get("name", name)] = name
            schema = res.get("schema", {})
            if isinstance(schema, str):
                schema = json.loads((data_dir / schema).read_text(encoding="utf-8"))
            schemas[name] = schema
            tables[name], found = read_table(data_dir / path, schema, name, f"{label}/{path}")
            issues += found
        for name in REQUIRED_TABLES:
            if name not in tables:
                issues.append(Issue(f"{label}/datapackage.json", None, None, None, "missing-resource",
                                    f"no resource {name}.csv"))
        issues += _check_foreign_keys(tables, schemas, names)
    domains, located, found = _read_domains(data_dir, label)
    issues += found
    issues += _check_grade(data_dir, label, {d.get("id") for d in domains})
    if not all(n in tables for n in REQUIRED_TABLES):
        return tables, package, domains, None, [], issues
    raw = tables["outcomes"].frame()
    issues += _check_curation(tables)
    cur_file = tables["curation"].file if "curation" in tables else None
    curation_ok = cur_file and not any(i.file == cur_file and i.severity == "error" for i in issues)
    view, applied = apply_curation(raw, tables["curation"].frame() if curation_ok else None)
    analysed = view if curated else raw
    rules = _check_outcome_rules(analysed, tables["outcomes"].file)
    bad_lines = {i.line for i in issues + rules if i.file == tables["outcomes"].file and i.severity == "error"}
    rules += _check_studies(tables, analysed)
    rules += _check_published(tables)
    rules += _check_cross(tables, {d.get("id") for d in domains})
    rules += _check_domains(located, analysed[~analysed["_excluded"]] if curated else analysed,
                            f"{label}/domains.yml")
    warnings = plausibility(analysed[~analysed["_line"].isin(bad_lines)], tables["instruments"].frame(),
                            tables["outcomes"].file)
    if curated:
        warnings = _account_for(warnings, analysed, applied)
    # A cell that did not parse is missing for the later rules: report it once, not twice.
    failed = {(i.file, i.line, i.column) for i in issues if i.severity == "error"}
    issues += [i for i in rules + warnings if (i.file, i.line, i.column) not in failed]
    return tables, package, domains, view, applied, issues


def _check_grade(data_dir: Path, label: str, domain_ids: set) -> list[Issue]:
    """The reviewed GRADE judgements (optional ``grade.yml``) must be well formed and name known domains."""
    from analysis.grade import load_judgements

    file = f"{label}/grade.yml"
    try:
        judgements = load_judgements(data_dir / "grade.yml")
    except (ValueError, yaml.YAMLError) as exc:
        return [Issue(file, None, None, None, "grade-judgements", str(exc).replace(str(data_dir / "grade.yml") + ": ", ""))]
    return [Issue(file, None, None, str(outcome), "grade-domain", "not a domain id of domains.yml")
            for outcome in judgements if outcome not in domain_ids]


# --------------------------------------------------------------------------- curation


def _check_curation(tables: dict[str, Table]) -> list[Issue]:
    """References and old values of curation.csv (checked with or without applying it)."""
    if "curation" not in tables:
        return []
    cur, out = tables["curation"], tables["outcomes"]
    by_id = {r["outcome_id"]: (r, raw, n) for r, raw, n in zip(out.rows, out.raw, out.lines)}
    issues, targets = [], {}
    for row, line in zip(cur.rows, cur.lines):
        def issue(column, value, rule, message):
            issues.append(Issue(cur.file, line, column, value, rule, message))
        oid, fname, action = row.get("outcome_id"), row.get("field"), row.get("action")
        if oid is not None and oid in by_id and by_id[oid][0]["study_id"] != row.get("study_id"):
            issue("outcome_id", oid, "curation-study", f"outcome belongs to study '{by_id[oid][0]['study_id']}'")
            continue
        # a study-level decision (no outcome_id) may name a column of either table
        known = [out] if oid is not None else [out, tables["studies"]]
        if fname is not None and (not any(t.field_named(fname) for t in known) or fname in ("outcome_id", "study_id")):
            issue("field", fname, "curation-field", "not a column of " + " or ".join(t.file for t in known))
            continue
        if action != "set":
            continue
        if oid is None or fname is None:
            column = "outcome_id" if oid is None else "field"
            issue(column, "", "curation-target", "a 'set' needs an outcome_id and a field")
            continue
        if oid not in by_id:
            continue  # reported as foreign-key
        if (oid, fname) in targets:
            issue("field", fname, "curation-conflict", f"'{fname}' of '{oid}' already set on line {targets[oid, fname]}")
            continue
        targets[oid, fname] = line
        spec = out.field_named(fname)
        typed, shown, raw_line = by_id[oid][0][fname], by_id[oid][1][fname], by_id[oid][2]
        old, problem = parse_cell(row.get("old_value") or "", dict(spec, constraints={}), {""})
        if problem or old != typed:
            issue("old_value", row.get("old_value") or "", "curation-old-value",
                  f"the raw value of '{fname}' ({out.file} line {raw_line}) is '{shown}'")
        new, problem = parse_cell(row.get("new_value") or "", spec, {""})
        if problem:
            issue("new_value", row.get("new_value") or "", problem[0], f"{problem[1]} (column '{fname}')")
    return issues


def apply_curation(raw: pd.DataFrame, curation: pd.DataFrame | None) -> tuple[pd.DataFrame, list[dict]]:
    """The curated view of the outcome rows and the list of applied decisions.

    ``set`` replaces ``field`` of ``outcome_id`` by ``new_value`` (typed like the column);
    ``exclude`` marks the row (or every row of the study when ``outcome_id`` is empty) in the
    boolean column ``_excluded``; ``flag`` changes nothing. ``raw`` is not modified.
    Assumes :func:`check` found no error in the curation log.
    """
    view = raw.copy()
    view["_excluded"] = False
    view["_curation"] = [[] for _ in range(len(view))]
    applied = []
    if curation is None:
        return view, applied
    for rec in curation.to_dict("records"):
        rec = {k: (None if _missing(v) else v) for k, v in rec.items()}
        if rec.get("outcome_id"):
            mask = view["outcome_id"] == rec["outcome_id"]
        else:
            mask = view["study_id"] == rec["study_id"]
        if rec["action"] == "set":
            column = rec["field"]
            view.loc[mask, column] = _typed(str(rec["new_value"]), _kind_of(raw[column]), {})[0] \
                if rec["new_value"] is not None else None
        elif rec["action"] == "exclude":
            view.loc[mask, "_excluded"] = True
        for idx in view.index[mask]:
            view.at[idx, "_curation"] = view.at[idx, "_curation"] + [rec["curation_id"]]
        applied.append({k: rec.get(k) for k in ("curation_id", "study_id", "outcome_id", "field", "action",
                                                "old_value", "new_value", "reason", "evidence", "date")})
    return view, applied


def _kind_of(column: pd.Series) -> str:
    if str(column.dtype) == "Int64":
        return "integer"
    if str(column.dtype) == "boolean":
        return "boolean"
    return "number" if column.dtype == np.float64 else "string"


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- domain rules


def _check_outcome_rules(rows: pd.DataFrame, file: str) -> list[Issue]:
    issues = []
    for rec in rows.to_dict("records"):
        line = rec["_line"]

        def issue(column, rule, message):
            issues.append(Issue(file, line, column, _show(rec.get(column)), rule, message))
        needed = REQUIRED_BY_TYPE.get(rec["data_type"], ())
        for column in needed:
            if _missing(rec.get(column)):
                issue(column, "required-for-type", f"a '{rec['data_type']}' row needs {', '.join(needed)}")
        for arm in ("1", "2"):
            n, sd, events, total = (rec.get(c + arm) for c in ("n", "sd", "events", "total"))
            if not _missing(n) and n < 2:
                issue("n" + arm, "n-min", "arm size must be >= 2")
            if not _missing(sd) and sd <= 0:
                issue("sd" + arm, "sd-positive", "SD must be > 0")
            if not _missing(total) and total < 1:
                issue("total" + arm, "events-range", "total must be >= 1")
            if not _missing(events) and (events < 0 or (not _missing(total) and events > total)):
                issue("events" + arm, "events-range", f"events must satisfy 0 <= events <= total ({_show(total)})")
        for column in ("sei", "recorded_g_se"):
            if not _missing(rec.get(column)) and rec[column] <= 0:
                issue(column, "se-positive", "standard error must be > 0")
    return issues


#: Study columns required when outcome_data is "extracted" (optional for trials awaiting data).
EXTRACTED_REQUIRED = ("design", "arms", "population")


def _check_studies(tables: dict[str, Table], outcomes: pd.DataFrame) -> list[Issue]:
    studies = tables["studies"]
    with_rows = set(outcomes["study_id"])
    this_year = date.today().year
    issues = []
    for row, line in zip(studies.rows, studies.lines):
        if row.get("year") is not None and row["year"] > this_year:
            issues.append(Issue(studies.file, line, "year", str(row["year"]), "year-future",
                                f"publication year after {this_year}"))
        state = row.get("outcome_data")
        has = row["study_id"] in with_rows
        if state == "extracted" and not has:
            issues.append(Issue(studies.file, line, "outcome_data", state, "outcome-data",
                                "marked extracted but outcomes.csv has no row of this study"))
        if state == "extracted":
            # subgroup analyses need these for every analysed trial; trials awaiting data may lack them
            for column in EXTRACTED_REQUIRED:
                if row.get(column) is None:
                    issues.append(Issue(studies.file, line, column, "", "studies-extracted-required",
                                        f"'{column}' is required for a trial whose outcome data are extracted"))
        elif state == "not yet extracted" and has:
            issues.append(Issue(studies.file, line, "outcome_data", state, "outcome-data",
                                "marked not yet extracted but outcomes.csv has rows of this study"))
    return issues


def _check_cross(tables: dict[str, Table], domain_ids: set) -> list[Issue]:
    """Instrument scales run from min to max (error); a published estimate maps to a known domain
    (warning)."""
    issues = []
    inst = tables.get("instruments")
    for row, raw, line in zip(inst.rows if inst else [], inst.raw if inst else [], inst.lines if inst else []):
        low, high = row.get("scale_min"), row.get("scale_max")
        if low is not None and high is not None and low >= high:
            issues.append(Issue(inst.file, line, "scale_max", raw.get("scale_max", str(high)), "scale-range",
                                f"scale_max must exceed scale_min ({raw.get('scale_min', low)})"))
    pub = tables.get("published_estimates")
    for row, line in zip(pub.rows if pub else [], pub.lines if pub else []):
        if row.get("domain") is not None and row["domain"] not in domain_ids:
            # a warning: an estimate of a domain the book does not (or no longer) show stays data
            issues.append(Issue(pub.file, line, "domain", str(row["domain"]), "published-domain",
                                "not a domain id of domains.yml: no chapter shows this estimate",
                                severity="warning"))
    return issues


def _check_published(tables: dict[str, Table]) -> list[Issue]:
    """The printed CI must contain the printed estimate. A row whose ``inconsistency`` is true
    records a misprint of the source verbatim: it is reported as a note, not an error."""
    if "published_estimates" not in tables:
        return []
    pub = tables["published_estimates"]
    issues = []
    for row, text, line in zip(pub.rows, pub.raw, pub.lines):
        est, low, high = row.get("estimate"), row.get("ci_low"), row.get("ci_high")
        severity, known = ("note", "; recorded as printed (inconsistency noted)") if row.get("inconsistency") else ("error", "")
        if low is not None and high is not None and low > high:
            issues.append(Issue(pub.file, line, "ci_low", text["ci_low"], "ci-order",
                                f"ci_low > ci_high ({text['ci_high']}){known}", severity))
        elif est is not None and ((low is not None and est < low) or (high is not None and est > high)):
            issues.append(Issue(pub.file, line, "estimate", text["estimate"], "ci-contains",
                                f"estimate outside its CI [{text['ci_low']}, {text['ci_high']}]{known}", severity))
    return issues


def _check_domains(located: list[tuple[int, dict]], rows: pd.DataFrame, file: str) -> list[Issue]:
    issues = []
    for line, dom in located:
        key, values = next(iter(dom["select"].items()))
        column = "category" if key == "category" else "subdomain"
        present = set(rows[column].dropna())
        for value in values:
            if value not in present:
                issues.append(Issue(file, line, f"select.{key}", value, "domain-select",
                                    f"no outcome row (of the analysed view) has {column} '{value}'"))
        chosen = rows[rows[column].isin(values)]
        bad = chosen[~chosen["data_type"].isin(DOMAIN_MEASURES[dom["measure"]])]
        for rec in bad.to_dict("records")[:1]:
            issues.append(Issue(file, line, "measure", dom["measure"], "domain-measure",
                                f"{len(bad)} selected row(s) have data_type '{rec['data_type']}' "
                                f"(e.g. {rec['outcome_id']}), not poolable as {dom['measure']}"))
    return issues


def _show(value) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


# --------------------------------------------------------------------------- plausibility


def plausibility(rows: pd.DataFrame, instruments: pd.DataFrame, file: str) -> list[Issue]:
    """Plausibility warnings for outcome rows.

    - ``mean-in-scale``: an arm mean outside the instrument's [scale_min, scale_max] (a different
      scoring, e.g. item mean instead of total, or a typo); the SD check is then skipped.
    - ``sd-small``: SD < range / 20, or < |mean| / 20 when the instrument has no known range
      (:data:`SD_MIN_FRACTION`): standard error entered as SD?
    - ``g-sign``: Hedges' g recomputed from the arm data, oriented by the instrument's
      ``higher_is_better``, has the opposite sign of ``recorded_g``.
    - ``g-recomputed``: same sign but |recomputed - recorded_g| > :data:`G_TOLERANCE`.
    """
    # a duplicated instrument is reported as a primary-key error; judge by its first row here
    inst = instruments.drop_duplicates("instrument").set_index("instrument")
    issues = []
    for rec in rows.to_dict("records"):
        spec = inst.loc[rec["instrument"]] if rec["instrument"] in inst.index else None
        if spec is None or _missing(spec["higher_is_better"]):
            continue
        issues += _scale_warnings(rec, spec, file)
        recomputed = _recomputed_g(rec, bool(spec["higher_is_better"]))
        recorded = rec.get("recorded_g")
        if recomputed is None or _missing(recorded):
            continue
        direction = "higher" if spec["higher_is_better"] else "lower"
        if recomputed * recorded < 0:
            issues.append(Issue(file, rec["_line"], "recorded_g", _show(recorded), "g-sign",
                                f"sign opposite to the arm data: g = {recomputed:.3f} from the arms "
                                f"({direction} is better on {rec['instrument']})", "warning"))
        elif abs(recomputed - recorded) > G_TOLERANCE:
            issues.append(Issue(file, rec["_line"], "recorded_g", _show(recorded), "g-recomputed",
                                f"g = {recomputed:.3f} from the arm data differs by more than {G_TOLERANCE}",
                                "warning"))
    return issues


def _scale_warnings(rec: dict, spec: pd.Series, file: str) -> list[Issue]:
    """``mean-in-scale`` and ``sd-small`` warnings of an msd row (see :func:`plausibility`)."""
    if rec["data_type"] != "msd":
        return []
    low, high = spec.get("scale_min"), spec.get("scale_max")
    has_range = not (_missing(low) or _missing(high)) and high > low
    issues = []
    for arm in ("1", "2"):
        mean = rec.get("mean" + arm)
        if has_range and not _missing(mean) and not low <= mean <= high:
            issues.append(Issue(file, rec["_line"], "mean" + arm, _show(mean), "mean-in-scale",
                                f"outside the scale of {rec['instrument']} [{_show(low)}, {_show(high)}]", "warning"))
    if issues:
        return issues
    for arm in ("1", "2"):
        sd, n, mean = rec.get("sd" + arm), rec.get("n" + arm), rec.get("mean" + arm)
        if has_range:
            reference, what = high - low, f"the scale range {_show(low)}-{_show(high)}"
        elif not _missing(mean):
            reference, what = abs(mean), f"the mean {_show(mean)} (no scale range known)"
        else:
            continue
        if not _missing(sd) and sd < reference * SD_MIN_FRACTION:
            hint = f"; SD x sqrt(n) = {sd * math.sqrt(n):.2f}" if not _missing(n) else ""
            issues.append(Issue(file, rec["_line"], "sd" + arm, _show(sd), "sd-small",
                                f"SD < 1/20 of {what}: standard error entered as SD?{hint}", "warning"))
    return issues


def _recomputed_g(rec: dict, higher_is_better: bool) -> float | None:
    from analysis.effects import escalc

    if rec["data_type"] == "msd":
        cols = REQUIRED_BY_TYPE["msd"]
        if any(_missing(rec.get(c)) for c in cols):
            return None
        es = escalc("SMD", **{c: np.array([float(rec[c])]) for c in cols}, higher_is_better=higher_is_better)
        return float(es.yi[0])
    if rec["data_type"] == "events":
        if any(_missing(rec.get(c)) for c in REQUIRED_BY_TYPE["events"]):
            return None
        yi, _ = _events_as_smd(pd.DataFrame([rec]), np.array([higher_is_better]))
        return float(yi[0])
    return None


def _account_for(warnings: list[Issue], rows: pd.DataFrame, applied: list[dict]) -> list[Issue]:
    """Turn warnings that a curation decision accounts for into notes citing the decision.

    An exclusion, or a flag without a field, accounts for all warnings of its rows. A ``set`` or
    a flag of a field accounts for a warning on that column, and for ``g-*`` warnings when the
    field is an input of g (``recorded_g`` then keeps what the source computed from other data).
    """
    decisions = {a["curation_id"]: a for a in applied}
    by_line = {rec["_line"]: rec for rec in rows.to_dict("records")}
    out = []
    for w in warnings:
        rec = by_line.get(w.line)
        ids = [c for c in (rec["_curation"] if rec else []) if _accounts_for(decisions[c], w)]
        if ids:
            why = "; ".join(f"{c} ({decisions[c]['action']}: {decisions[c]['reason']})" for c in ids)
            out.append(Issue(w.file, w.line, w.column, w.value, w.rule, f"{w.message}; accounted for by {why}", "note"))
        else:
            out.append(w)
    return out


def _accounts_for(decision: dict, warning: Issue) -> bool:
    if decision["action"] == "exclude" or decision["field"] is None:
        return True
    g_inputs = REQUIRED_BY_TYPE["msd"] + REQUIRED_BY_TYPE["events"] + ("recorded_g",)
    return decision["field"] == warning.column or (warning.rule.startswith("g-") and decision["field"] in g_inputs)


# --------------------------------------------------------------------------- public API


def check(data_dir="data", curated: bool = True) -> list[Issue]:
    """All issues of the dataset in ``data_dir`` (errors, warnings, notes), sorted by file and line.

    With ``curated=False`` the curation log is validated but not applied, so that the
    plausibility warnings describe the raw import.
    """
    issues = _read_all(data_dir, curated)[-1]
    return sorted(set(issues), key=Issue.sort_key)


def load(data_dir="data", curated: bool = True) -> Dataset:
    """Load and validate the dataset; raise :class:`DataError` listing every error.

    Returns a :class:`Dataset`; ``issues`` holds the warnings and notes.
    """
    tables, package, domains, view, applied, issues = _read_all(data_dir, curated)
    issues = sorted(set(issues), key=Issue.sort_key)
    if any(i.severity == "error" for i in issues) or view is None:
        raise DataError(issues)

    def frame(name):
        return tables[name].frame() if name in tables else pd.DataFrame()
    raw = tables["outcomes"].frame()
    analysed = view[~view["_excluded"]].reset_index(drop=True) if curated else raw
    return Dataset(studies=frame("studies"), outcomes=analysed, raw_outcomes=raw,
                   instruments=frame("instruments"), rob=frame("risk_of_bias"), curation=frame("curation"),
                   study_reviews=frame("study_reviews"), published=frame("published_estimates"),
                   reviews=frame("reviews"), domains=domains, version=package["version"], issues=issues,
                   applied=applied if curated else [], curated=curated)


def domain_rows(ds: Dataset, domain_id: str, curated: bool = True) -> pd.DataFrame:
    """Outcome rows of a domain joined with study characteristics and overall risk of bias.

    Rows come from the curated view (``curated=True``, if ``ds`` was loaded curated) or from the
    raw file. Study columns whose names clash with outcome columns get the suffix ``_study``
    (``comparator`` is the outcome row's own comparator). ``rob_overall`` is the outcome-specific
    judgement where one exists, else the study-level one (empty ``outcome_id``).
    ``higher_is_better`` comes from instruments.csv.
    """
    domain = next((d for d in ds.domains if d["id"] == domain_id), None)
    if domain is None:
        raise KeyError(f"unknown domain '{domain_id}'; known: {', '.join(d['id'] for d in ds.domains)}")
    rows = ds.outcomes if curated else ds.raw_outcomes
    key, values = next(iter(domain["select"].items()))
    rows = rows[rows[key].isin(values)].drop(columns=["_excluded", "_curation"], errors="ignore")
    studies = ds.studies.drop(columns=["_line"])
    merged = rows.merge(studies, on="study_id", how="left", suffixes=("", "_study"), validate="many_to_one")
    merged["rob_overall"] = [_rob_overall(ds.rob, s, o) for s, o in zip(merged["study_id"], merged["outcome_id"])]
    direction = ds.instruments.set_index("instrument")["higher_is_better"]
    merged["higher_is_better"] = merged["instrument"].map(direction).astype(bool)
    return merged.reset_index(drop=True)


def _rob_overall(rob: pd.DataFrame, study_id: str, outcome_id: str):
    if rob.empty:
        return None
    mine = rob[rob["study_id"] == study_id]
    specific = mine[mine["outcome_id"] == outcome_id]
    general = mine[mine["outcome_id"].isna()]
    chosen = specific if not specific.empty else general
    return chosen["overall"].iloc[0] if not chosen.empty else None


def _events_as_smd(rows: pd.DataFrame, higher_is_better: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratio (0.5 added to zero cells) converted to the SMD scale: g = ln(OR) sqrt(3)/pi,
    var = var(ln OR) 3/pi^2 (Chinn 2000). A bad event (``higher_is_better`` False) flips the sign
    so that positive favours peer support."""
    from analysis.effects import escalc

    es = escalc("OR", **{c: rows[c].to_numpy(float) for c in REQUIRED_BY_TYPE["events"]}, drop00=False)
    sign = np.where(higher_is_better, 1.0, -1.0)
    return sign * es.yi * LOG_OR_TO_SMD, es.vi * LOG_OR_TO_SMD ** 2


def effect_sizes(rows: pd.DataFrame, ds: Dataset, vtype: str = "LS", as_published: bool = False) -> pd.DataFrame:
    """Add ``yi``, ``vi`` and ``es_method`` (how the effect was obtained) to outcome rows.

    Positive ``yi`` favours peer support. ``msd`` rows: Hedges' g (``analysis.effects.escalc``,
    measure SMD, variance ``vtype``), sign flipped for instruments where lower is better.
    ``events`` rows: log odds ratio converted to the SMD scale by sqrt(3)/pi (Chinn 2000).
    ``effect-se`` rows: ``yi`` as recorded (already oriented), ``vi = sei^2``.
    ``as_published=True``: ``recorded_g`` and ``recorded_g_se^2`` for every row, i.e. what the
    source pooled; a row without them gets NaN.
    """
    from analysis.effects import escalc

    out = rows.copy()
    hib = out["instrument"].map(ds.instruments.set_index("instrument")["higher_is_better"]).astype(bool).to_numpy()
    yi = np.full(len(out), np.nan)
    vi = np.full(len(out), np.nan)
    method = np.array([""] * len(out), dtype=object)
    if as_published:
        yi = out["recorded_g"].to_numpy(float)
        vi = out["recorded_g_se"].to_numpy(float) ** 2
        method[:] = "recorded_g (as published)"
    else:
        for kind in REQUIRED_BY_TYPE:
            mask = (out["data_type"] == kind).to_numpy()
            if not mask.any():
                continue
            part = out[mask]
            if kind == "msd":
                es = escalc("SMD", **{c: part[c].to_numpy(float) for c in REQUIRED_BY_TYPE["msd"]},
                            vtype=vtype, higher_is_better=hib[mask])
                yi[mask], vi[mask] = es.yi, es.vi
                method[mask] = f"Hedges' g from means and SDs (vtype {vtype})"
            elif kind == "events":
                yi[mask], vi[mask] = _events_as_smd(part, hib[mask])
                method[mask] = "log odds ratio x sqrt(3)/pi (Chinn 2000)"
            else:
                yi[mask], vi[mask] = part["yi"].to_numpy(float), part["sei"].to_numpy(float) ** 2
                method[mask] = "reported effect and standard error"
    out["yi"], out["vi"], out["es_method"] = yi, vi, method
    return out


def quality_notes(ds: Dataset, rows: pd.DataFrame) -> list[str]:
    """Data-quality notes for the studies of ``rows``: the curation decisions that concern them
    and the warnings and notes on their outcome rows, one sentence each."""
    studies = set(rows["study_id"])
    notes = []
    for a in ds.applied:
        if a["study_id"] in studies:
            target = a["outcome_id"] or f"all rows of {a['study_id']}"
            change = f" '{a['field']}' {a['old_value']} -> {a['new_value']}" if a["action"] == "set" else ""
            notes.append(f"{a['curation_id']}: {a['action']} {target}{change}: {a['reason']} ({a['evidence']})")
    lines = set(ds.raw_outcomes.loc[ds.raw_outcomes["study_id"].isin(studies), "_line"])
    outcomes_file = next((i.file for i in ds.issues if i.file.endswith("/outcomes.csv")), None)
    for issue in ds.issues:
        if issue.file == outcomes_file and issue.line in lines:
            # the book shows the file by name, not the build machine's path
            notes.append(f"{issue.severity}: {replace(issue, file=Path(issue.file).name)}")
    return notes
