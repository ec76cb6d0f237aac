"""Entering a trial: merge one YAML file into the dataset, validated before anything is written.

The YAML file's top-level keys are table names (``studies``, ``study_characteristics``,
``outcomes``, ``risk_of_bias``, ``study_reviews``, ``study_references``, ``curation``,
``instruments``, ``awaiting_searches``), each a list of rows keyed by the column names
of ``data/datapackage.json``, plus ``references`` (BibTeX text). Merging

- adds new rows; fills a study that awaits extraction (its empty cells; ``outcome_data`` may turn
  ``extracted``); adds outcome rows, review links and further reports (``study_references``: a
  second report of an existing trial) to an existing study. A value of an existing row is never
  changed otherwise: corrections are curation decisions;
- refuses a row that is already there (adding the same file twice changes nothing) and a row
  whose key exists with other values;
- writes every table in its canonical order (sorted by primary key) and the dataset's
  ``updated`` date, only after the merged dataset passed :func:`analysis.dataset.check` in a
  temporary copy. On any error nothing is written, and each message names the YAML file, the key
  path (``outcomes[0].sd1``), the value and the rule.
"""
from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.dataset.files import atomic_write
from analysis.dataset.issues import Issue
from analysis.dataset.load import check

#: Tables a trial file may hold, in the order they are merged.
TABLES = ("studies", "study_characteristics", "instruments", "outcomes", "risk_of_bias", "study_reviews",
          "study_references", "curation", "awaiting_searches")
REFERENCES = "references"
#: The study columns a maintainer may fill when a trial that awaited extraction is extracted.
FILLABLE_STATE = "not yet extracted"
_BIB_KEY = re.compile(r"@\s*\w+\s*\{\s*([^,\s]+)\s*,")


class AddError(Exception):
    """The trial file cannot be merged; ``problems`` lists every message (nothing was written)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""))


@dataclass
class AddReport:
    """What a merge changed: per table the keys added or filled; the warnings of the merged data."""

    added: dict = field(default_factory=dict)
    filled: list = field(default_factory=list)
    references: list = field(default_factory=list)
    warnings: list = field(default_factory=list)        # on the rows of the file
    other_warnings: int = 0                              # elsewhere in the dataset

    def summary(self) -> str:
        parts = [f"{len(keys)} {table} row(s)" for table, keys in self.added.items() if keys]
        if self.filled:
            parts.append("filled " + ", ".join(self.filled))
        if self.references:
            parts.append(f"{len(self.references)} reference(s)")
        return "added " + "; ".join(parts) if parts else "nothing to add"


@dataclass
class _Table:
    name: str
    path: Path
    header: list[str]
    key: list[str]
    rows: list[dict]
    origin: dict = field(default_factory=dict)   # primary key -> key path of the YAML row that made it
    required: set = field(default_factory=set)   # columns the schema requires (a key column may be empty otherwise)


def _cell(value, where: str, problems: list[str], file: str) -> str:
    """A YAML value as CSV cell text (numbers as written by YAML, booleans as true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{file}: {where}: value '{value}': rule number: not a finite number")
            return ""
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return value
    problems.append(f"{file}: {where}: value '{value}': rule cell: a cell holds one value, not a list or mapping")
    return ""


def _read_table(data_dir: Path, resource: dict) -> _Table:
    path = data_dir / resource["path"]
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    key = resource["schema"].get("primaryKey")
    required = {f["name"] for f in resource["schema"]["fields"] if f.get("constraints", {}).get("required")}
    return _Table(resource["name"], path, header, [key] if isinstance(key, str) else list(key), rows,
                  required=required)


def _csv_text(table: _Table) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, table.header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(table.rows, key=lambda r: tuple(r[k] for k in table.key)))
    return buffer.getvalue()


def _line_of(table: _Table, key: tuple) -> int:
    """The line (header = 1) of the row with primary key ``key`` in the canonical order."""
    order = sorted(tuple(r[k] for k in table.key) for r in table.rows)
    return order.index(key) + 2


def _merge_rows(table: _Table, entries, file: str, report: AddReport, problems: list[str]) -> None:
    if not isinstance(entries, list):
        problems.append(f"{file}: {table.name}: rule yaml-table: expected a list of rows")
        return
    existing = {tuple(r[k] for k in table.key): r for r in table.rows}
    for i, entry in enumerate(entries):
        where = f"{table.name}[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{file}: {where}: rule yaml-row: expected a mapping of column names to values")
            continue
        unknown = [c for c in entry if c not in table.header]
        for column in unknown:
            near = difflib.get_close_matches(str(column), table.header, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            problems.append(f"{file}: {where}.{column}: rule unknown-column: not a column of "
                            f"{table.path.name}{hint}")
        if unknown:
            continue
        row = {c: "" for c in table.header}
        row.update({c: _cell(v, f"{where}.{c}", problems, file) for c, v in entry.items()})
        # a key column the schema does not require may be empty (a study-level RoB 2 row has no
        # outcome_id; only trial sizes have a basis)
        missing = [k for k in table.key if not row[k] and k in table.required]
        if missing:
            problems.append(f"{file}: {where}.{missing[0]}: rule required: the row needs its key "
                            f"({', '.join(table.key)})")
            continue
        key = tuple(row[k] for k in table.key)
        old = existing.get(key)
        if old is None:
            table.rows.append(row)
            existing[key] = row
            table.origin[key] = where
            report.added.setdefault(table.name, []).append(", ".join(key))
        elif table.name == "studies":
            _fill_study(old, entry, row, where, file, report, problems)
            table.origin.setdefault(key, where)
        elif all(old[c] == row[c] for c in entry):
            problems.append(f"{file}: {where}: value '{', '.join(key)}': rule already-added: this "
                            f"{table.name} row is already in {table.path.name} (nothing to add)")
        else:
            changed = next(c for c in entry if old[c] != row[c])
            problems.append(f"{file}: {where}.{changed}: value '{row[changed]}': rule duplicate-key: "
                            f"{table.path.name} already has '{', '.join(key)}' with {changed} '{old[changed]}' "
                            "(corrections of existing rows are curation decisions: data/curation.csv)")


def _fill_study(old: dict, entry: dict, row: dict, where: str, file: str, report: AddReport,
                problems: list[str]) -> None:
    """Fill the empty cells of a study that awaits extraction; any other change is refused."""
    awaiting = old.get("outcome_data") == FILLABLE_STATE
    changed = []
    for column in entry:
        new, current = row[column], old[column]
        if new == current:
            continue
        if awaiting and (current == "" or column == "outcome_data"):
            old[column] = new
            changed.append(column)
            continue
        problems.append(f"{file}: {where}.{column}: value '{new}': rule study-exists: study '{old['study_id']}' "
                        f"already has {column} '{current}' (corrections are curation decisions: data/curation.csv)")
    if changed:
        report.filled.append(f"{old['study_id']} ({', '.join(changed)})")


def _merge_references(bib: str, text, file: str, report: AddReport, problems: list[str]) -> str:
    if text is None:
        return bib
    if not isinstance(text, str):
        problems.append(f"{file}: references: rule references: expected BibTeX text (a YAML block, '|')")
        return bib
    existing = set(_BIB_KEY.findall(bib))
    entries = [e.strip() for e in re.split(r"\n(?=\s*@)", text.strip()) if e.strip()]
    added = []
    for i, entry in enumerate(entries):
        keys = _BIB_KEY.findall(entry)
        if len(keys) != 1:
            problems.append(f"{file}: references[{i}]: rule bibtex: expected one entry '@type{{key, ...}}'")
            continue
        if keys[0] in existing:
            problems.append(f"{file}: references[{i}]: value '{keys[0]}': rule already-added: references.bib "
                            "already has this key")
            continue
        added.append(entry)
        report.references.append(keys[0])
    return bib.rstrip("\n") + "\n\n" + "\n\n".join(added) + "\n" if added else bib


def add_trial(trial_file, data_dir="data", today: str | None = None) -> AddReport:
    """Merge ``trial_file`` into the dataset in ``data_dir`` (see the module docstring).

    Raises :class:`AddError` listing every problem; then nothing was written.
    """
    trial_file, data_dir = Path(trial_file), Path(data_dir)
    file = str(trial_file)
    try:
        spec = yaml.safe_load(trial_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AddError([f"{file}: rule missing-file: no such file"]) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise AddError([f"{file}: {where}rule yaml: not valid YAML ({getattr(exc, 'problem', None) or exc})"]) from None
    if not isinstance(spec, dict) or not spec:
        raise AddError([f"{file}: rule yaml: expected a mapping of table names ({', '.join(TABLES)}, references)"])
    problems: list[str] = []
    for name in spec:
        if name not in TABLES and name != REFERENCES:
            near = difflib.get_close_matches(str(name), [*TABLES, REFERENCES], n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            problems.append(f"{file}: {name}: rule unknown-table: not a table of the dataset{hint}")
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    resources = {r["name"]: r for r in package["resources"] if r.get("path", "").endswith(".csv")}
    report = AddReport()
    tables = {name: _read_table(data_dir, resources[name]) for name in TABLES if name in spec}
    for name, table in tables.items():
        _merge_rows(table, spec[name], file, report, problems)
    bib_path = data_dir / "references.bib"
    bib = bib_path.read_text(encoding="utf-8")
    new_bib = _merge_references(bib, spec.get(REFERENCES), file, report, problems)
    if problems:
        raise AddError(problems)

    today = today or dt.date.today().isoformat()
    package["updated"] = today
    outputs = {table.path.name: _csv_text(table) for table in tables.values()}
    outputs["references.bib"] = new_bib
    outputs["datapackage.json"] = json.dumps(package, indent=2, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory(prefix="add-") as tmp:
        trial = Path(tmp) / data_dir.name
        shutil.copytree(data_dir, trial, ignore=shutil.ignore_patterns("sources"))
        for name, content in outputs.items():
            (trial / name).write_text(content, encoding="utf-8")
        issues = check(trial)
    origins = {}
    for table in tables.values():
        for key, where in table.origin.items():
            origins[(table.path.name, _line_of(table, key))] = where
    errors = [_located(i, origins, file, trial, data_dir) for i in issues if i.severity == "error"]
    if errors:
        raise AddError(errors)
    for name, content in outputs.items():
        atomic_write(data_dir / name, content)
    warnings = [i for i in issues if i.severity == "warning"]
    mine = [i for i in warnings if (Path(i.file).name, i.line) in origins]
    report.warnings = [_located(i, origins, file, trial, data_dir) for i in mine]
    report.other_warnings = len(warnings) - len(mine)
    return report


def _located(issue: Issue, origins: dict, file: str, copy: Path, data_dir: Path) -> str:
    """An issue of the merged copy, named by the YAML key path when a row of the file caused it."""
    name = Path(issue.file).name
    where = origins.get((name, issue.line))
    if where is not None:
        parts = [f"{file}: {where}" + (f".{issue.column}" if issue.column else "")]
        if issue.value is not None:
            parts.append(f"value '{issue.value}'")
        # the check ran on a merged copy: messages name the dataset's own files
        parts += [f"rule {issue.rule}", issue.message.replace(str(copy), str(data_dir))]
        return ": ".join(parts)
    return str(issue).replace(str(copy), str(data_dir))


#: The tables of the trial template and the columns a maintainer leaves out (filled by the data).
_TEMPLATE_TABLES = ("studies", "study_characteristics", "outcomes", "risk_of_bias", "study_reviews", "study_references",
                    "curation")


def template(package: dict) -> str:
    """The trial template ``data/templates/trial.yml``, generated from ``datapackage.json``.

    It lists every column of every table a trial file may hold, empty, with the schema's
    description and rules as comments.
    """
    resources = {r["name"]: r for r in package["resources"] if r.get("path", "").endswith(".csv")}
    lines = ["# A trial for `python -m analysis add FILE.yml` (copy this file, fill it, delete what you do not",
             "# need). Keys are table names; each holds a list of rows keyed by column names",
             "# (docs: data/README.md, 'Entering a trial'). Empty values are missing. Generated from",
             "# data/datapackage.json by analysis.dataset.add.template; do not edit by hand.", ""]
    for name in _TEMPLATE_TABLES:
        fields = resources[name]["schema"]["fields"]
        lines.append(f"{name}:")
        for i, f in enumerate(fields):
            rules = []
            c = f.get("constraints", {})
            if c.get("required"):
                rules.append("required")
            if "enum" in c:
                rules.append("one of " + ", ".join(map(str, c["enum"])))
            if "pattern" in c:
                rules.append(f"pattern {c['pattern']}")
            if "minimum" in c:
                rules.append(f">= {c['minimum']}")
            comment = f"{f.get('type', 'string')}; {'; '.join(rules)}. " if rules else f"{f.get('type', 'string')}. "
            lines.append(f"  {'- ' if i == 0 else '  '}{f['name']}:  # {comment}{f.get('description', '')}".rstrip())
        lines.append("")
    lines += ["references: |", "  # BibTeX entries of the trial's reports (key = the study's citation_key)", ""]
    return "\n".join(lines)
