"""Typed reading of the dataset's files: ``datapackage.json``, the CSV tables, ``domains.yml``.

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
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from analysis.dataset.issues import Issue

#: Largest magnitude accepted in a number cell (see module docstring).
MAX_ABS_NUMBER = 1e12
#: Keys and foreign keys of the data contract (docs/DESIGN.md); used when the schema omits them.
CONTRACT_KEYS = {
    "studies": ["study_id"], "study_reviews": ["study_id", "review_id"], "outcomes": ["outcome_id"],
    "instruments": ["instrument"], "risk_of_bias": ["study_id", "outcome_id"],
    "curation": ["curation_id"], "published_estimates": ["estimate_id"], "reviews": ["review_id"],
    "study_references": ["study_id", "citation_key"],
}
CONTRACT_FOREIGN_KEYS = [
    ("outcomes", ("study_id",), "studies", ("study_id",)),
    ("outcomes", ("instrument",), "instruments", ("instrument",)),
    ("risk_of_bias", ("study_id",), "studies", ("study_id",)),
    ("risk_of_bias", ("outcome_id",), "outcomes", ("outcome_id",)),
    ("curation", ("study_id",), "studies", ("study_id",)),
    ("curation", ("outcome_id",), "outcomes", ("outcome_id",)),
    ("study_reviews", ("study_id",), "studies", ("study_id",)),
    ("study_references", ("study_id",), "studies", ("study_id",)),
]
REQUIRED_TABLES = ("studies", "outcomes", "instruments")
#: Tables that may legitimately hold no rows (an empty curation log).
MAY_BE_EMPTY = {"curation", "study_references"}
DOMAIN_MEASURES = {"SMD": {"msd", "events", "effect-se"}, "MD": {"msd"},
                   "RR": {"events"}, "OR": {"events"}, "RD": {"events"}, "GEN": {"effect-se"}}
DOMAIN_KEYS = ("id", "title", "measure", "select", "description")
#: Optional keys of a domain and their defaults: the time point analysed (post-intervention,
#: follow-up or any) and whether an SMD domain converts event rows (log OR x sqrt(3)/pi, Chinn 2000).
DOMAIN_DEFAULTS = {"timepoint": "post", "convert_binary": False}
DOMAIN_TIMEPOINTS = ("post", "follow-up", "any")
SELECTORS = ("category", "subdomain")
SLUG = re.compile(r"[a-z0-9-]+")
VERSION = re.compile(r"\d{2}\.\d+\.\d+")
#: Table Schema field types the reader understands.
FIELD_TYPES = {"string", "number", "integer", "year", "boolean", "date"}
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
    """Decode a file's bytes as UTF-8 text, reporting (and dropping) a byte-order mark.

    Invalid bytes are kept as lone surrogates (``surrogateescape``) so that the cell holding them
    can be reported with its line and column (see :func:`parse_cell`). Returns (text, issues).
    """
    issues = []
    if data.startswith(b"\xef\xbb\xbf"):
        issues.append(Issue(file, 1, None, None, "bom",
                            "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM"))
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape"), issues


def _printable(text: str) -> str:
    r"""``text`` with undecodable bytes shown as ``\xNN``."""
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
    value, problem = typed_cell(cell, kind, f)
    if problem:
        return None, problem
    problem = _check_constraints(value, cell, kind, constraints)
    return (None, problem) if problem else (value, None)


def typed_cell(cell: str, kind: str, f: dict) -> tuple[object, tuple[str, str] | None]:
    """Convert a non-missing cell to the value of its Table Schema type.

    Parameters
    ----------
    cell : str
        The cell's text as read from the CSV file.
    kind : str
        The field's type: ``number``, ``integer``, ``year``, ``boolean``, ``date`` or ``string``.
    f : dict
        The field's descriptor; a boolean field's ``trueValues`` and ``falseValues`` are read from it.

    Returns
    -------
    tuple
        ``(value, None)``, or ``(None, (rule, message))`` when the cell is not a value of its type:
        leading or trailing space; in a number, integer or year column a missing-value code
        (``NA``, ``NR``, ...), text that does not parse (a decimal comma in a number is named), a
        number that is not finite (``nan``, ``inf``) or one beyond ``MAX_ABS_NUMBER`` in
        magnitude; a year that is not four digits; a boolean outside the true and false values;
        a date not ``YYYY-MM-DD``. Numbers are floats, integers and years ints, booleans bools,
        dates ISO strings; strings are returned unchanged. Constraints (``enum``, ``minimum``,
        ...) are checked by the caller.
    """
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
        allowed = [typed_cell(str(v), kind, {})[0] if kind != "string" else v for v in c["enum"]]
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


def check_foreign_keys(tables: dict[str, Table], schemas: dict[str, dict], names: dict[str, str]) -> list[Issue]:
    """Rows whose foreign key is not found in the table it refers to (rule ``foreign-key``).

    The keys checked are the schemas' ``foreignKeys`` and those of the data contract
    (``CONTRACT_FOREIGN_KEYS``), even where a schema omits them. A row with a missing key value,
    and a link whose table or columns are absent (reported elsewhere), are not checked.

    Parameters
    ----------
    tables : dict
        The tables read, by table name (file stem).
    schemas : dict
        Each table's Table Schema, by table name.
    names : dict
        Table name of each resource name of ``datapackage.json`` (a foreign key names its
        ``reference.resource``; an empty one refers to the table itself).

    Returns
    -------
    list of Issue
        One error per row and key not found.
    """
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


def read_package(data_dir: Path, label: str) -> tuple[dict | None, list[Issue]]:
    """Read and check ``datapackage.json`` of a dataset directory.

    Parameters
    ----------
    data_dir : Path
        The dataset directory.
    label : str
        How messages name the directory (e.g. ``data``).

    Returns
    -------
    tuple
        ``(package, issues)``. ``package`` is None when the file is missing, not UTF-8, not JSON or
        has no list of resources. Issues also report a version that is not ``YY.MINOR.PATCH`` and,
        for each CSV resource, a schema file that is missing or not JSON, a schema without fields
        and a field type the reader does not understand (``FIELD_TYPES``).
    """
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


def read_domains(data_dir: Path, label: str) -> tuple[list[dict], list[tuple[int, dict]], list[Issue]]:
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
        located.append((line, {**DOMAIN_DEFAULTS, **item}))
    return [d for _, d in located], located, issues


def _domain_problem(item: dict) -> tuple | None:
    for key in DOMAIN_KEYS:
        if key not in item:
            return key, None, "domains", f"domain lacks '{key}'"
    extra = sorted(set(item) - set(DOMAIN_KEYS) - set(DOMAIN_DEFAULTS))
    if extra:
        return extra[0], None, "domains", ("unknown key (expected " + ", ".join(DOMAIN_KEYS) + "; optional "
                                           + ", ".join(DOMAIN_DEFAULTS) + ")")
    if item.get("timepoint", "post") not in DOMAIN_TIMEPOINTS:
        return ("timepoint", str(item["timepoint"]), "domain-timepoint",
                "timepoint must be one of " + ", ".join(DOMAIN_TIMEPOINTS))
    if not isinstance(item.get("convert_binary", False), bool):
        return "convert_binary", str(item["convert_binary"]), "domain-convert-binary", "convert_binary must be true or false"
    if item.get("convert_binary") and item.get("measure") != "SMD":
        return ("convert_binary", "true", "domain-convert-binary",
                "convert_binary applies to SMD domains only (event rows as standardised mean differences)")
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


def is_missing(value) -> bool:
    """Whether a value read from a table is missing: None, ``pd.NA`` or a float NaN (an empty cell)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
