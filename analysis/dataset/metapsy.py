"""Import of a Metapsy-standard database into ``data/`` (``python -m analysis import-metapsy PATH``).

The Metapsy data standard (https://docs.metapsy.org/data-preparation/format/) stores one row per
comparison x outcome in ``data.csv`` (semicolon separator, decimal comma, ``NA``/``NR`` for
missing) with its metadata in ``metadata/``. This importer writes the review's tables
(``studies.csv``, ``outcomes.csv``, ``instruments.csv``, ``risk_of_bias.csv``,
``search_flow.json``) in the schema of ``docs/DESIGN.md``.

Conversion rules (documented once here and in ``data/README.md``):

- Text: every cell is repaired for UTF-8 text that was decoded as Windows-1252 ("RÃ¼sch" ->
  "Rüsch", "GAFâ€”Global" -> "GAF—Global") by the round trip ``text.encode("cp1252")
  .decode("utf-8")``, applied only when the round trip succeeds (text that is already correct
  does not survive it and is left as it is).
- Numbers keep the digits of the source; only the decimal comma becomes a dot.
- ``precalc_*``, ``event_*``, ``totaln_*`` and ``dich`` are never read: their values sit on the
  wrong rows of this database (values of one study on another study's row).
- Rows with arm means, SDs and ns become ``msd`` rows; rows without them (pooled sub-scales,
  dichotomous outcomes, subgroup rows) become ``effect-se`` rows with ``yi = .g`` and
  ``sei = .g_se`` (Metapsy orients ``.g`` so that positive favours arm 1, the peer-support arm).
  Every row keeps ``.g``/``.g_se`` in ``recorded_g``/``recorded_g_se``.
- ``time_weeks`` is left empty: the Metapsy value is not weeks after randomisation in this
  database (it matches the intervention duration in months for most trials); it is kept
  visible in ``notes``.
- Rows of the output tables whose ``source`` does not start with ``metapsy`` were added by hand
  (trials from other reviews) and are preserved; every table is written sorted by its primary
  key, so a re-run gives byte-identical files.
"""
from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from analysis.dataset.files import atomic_write

SOURCE = "metapsy-peer-support@6c0f322"
MISSING = {"", "NA", "NR"}

STUDY_COLUMNS = [
    "study_id", "label", "first_author", "year", "country", "design", "arms", "population",
    "format", "delivery", "setting", "peer_role", "comparator", "n_total", "mean_age",
    "percent_women", "structure", "outcome_data", "citation_key", "source", "source_row", "notes",
]
OUTCOME_COLUMNS = [
    "outcome_id", "study_id", "arm1", "arm2", "comparator", "category", "subdomain",
    "subdomain_source", "instrument", "timepoint", "time_weeks", "data_type", "n1", "mean1",
    "sd1", "n2", "mean2", "sd2", "events1", "total1", "events2", "total2", "yi", "sei",
    "recorded_g", "recorded_g_se", "source", "source_row", "verified", "notes",
]
INSTRUMENT_COLUMNS = [
    "instrument", "construct", "higher_is_better", "scale_min", "scale_max", "notes", "source",
]
ROB_COLUMNS = ["study_id", "outcome_id", "d1", "d2", "d3", "d4", "d5", "overall", "source",
               "source_row"]
# Primary key of each table written (docs/DESIGN.md).
KEYS = {"studies.csv": ["study_id"], "outcomes.csv": ["outcome_id"],
        "instruments.csv": ["instrument"], "risk_of_bias.csv": ["study_id", "outcome_id"]}

# Metapsy columns read by the importer (all others are ignored).
REQUIRED_SOURCE_COLUMNS = [
    "study", "outcome_category", "condition_arm1", "condition_arm2", "outcome_type",
    "instrument", "outcome_subcategory", "time", "time_weeks", ".g", ".g_se", "mean_arm1",
    "sd_arm1", "n_arm1", "mean_arm2", "sd_arm2", "n_arm2", "year", "country", "specific_group",
    "perinatal", "disorder", "diagnosis_inclusion", "recruitment", "in_out_patients",
    "percent_women", "mean_age", "format", "delivery", "duration_int", "structure_intervention",
    "RoB_D1", "RoB_D2", "RoB_D3", "RoB_D4", "RoB_D5", "overall_RoB",
]
ROB_SOURCE_COLUMNS = ["RoB_D1", "RoB_D2", "RoB_D3", "RoB_D4", "RoB_D5", "overall_RoB"]

CATEGORIES = {
    "Personal recovery": "personal-recovery",
    "Clinical recovery": "clinical-recovery",
    "Functional recovery": "functional-recovery",
}
# outcome_subcategory -> sub-domain. Several Metapsy labels name one construct; "CES-D" is an
# instrument name entered as sub-category (Griffiths 2012) and measures depression.
SUBDOMAINS = {
    "Recovery - global": "self-rated-recovery",
    "Empowerment/Self-efficacy": "empowerment-self-efficacy",
    "Self-efficacy": "empowerment-self-efficacy",
    "QoL": "quality-of-life",
    "Depression": "depression",
    "CES-D": "depression",
    "Global severity": "global-symptoms",
    "Global symptoms": "global-symptoms",
    "Symptoms (transdiagnostic)": "global-symptoms",
    "Loneliness": "loneliness-social-support",
    "Social support": "loneliness-social-support",
    "Functioning": "functioning",
    "Social functioning": "functioning",
    "Psychosis": "psychosis",
    "Hope": "hope",
    "Self-esteem": "self-esteem",
}
COMPARATORS = {"CAU": ("cau", "care as usual"), "WL": ("waitlist", "waitlist"),
               "Other": ("other", "other control")}
FORMATS = {"Individual": "individual", "Group": "group", "Mixed": "mixed"}
DELIVERIES = {"Face to face": "face-to-face", "Telephone": "telephone", "Internet": "internet",
              "Mixed": "mixed"}
ROB_LEVELS = {"Low risk": "low", "Some concerns": "some-concerns", "High risk": "high"}
COUNTRIES = {"NL": "Netherlands", "UK": "United Kingdom", "USA": "United States"}
STRUCTURES = {"Structured": "structured", "Unstructured": "unstructured"}

# Metapsy distinguishes two trials of one author and year by a letter that other reviews assign
# differently (a Cochrane review calls BRIDGES "Cook 2012a"); the review names them by the
# intervention (metadata/references.json: WRAP and BRIDGES trials).
LABEL_OVERRIDES = {
    "Cook, 2012a": ("cook2012-wrap", "Cook 2012 (WRAP)"),
    "Cook, 2012b": ("cook2012-bridges", "Cook 2012 (BRIDGES)"),
}
# Metapsy codes disorder "other"; the trial enrolled patients with eating disorders
# (metadata/references.json: "... adjunct intervention for the treatment of eating disorders").
POPULATION_OVERRIDES = {"Ranzenhofer, 2020": "eating-disorders"}


@dataclass(frozen=True)
class Instrument:
    """Direction and range of one instrument text of the source.

    ``code`` is the short slug used in ``outcome_id``; ``higher_is_better`` is decided from the
    scale's scoring (symptom, distress, loneliness and impairment scales: lower is better).
    """

    code: str
    construct: str
    higher_is_better: bool
    scale_min: str = ""
    scale_max: str = ""
    notes: str = ""


_RANGE_VARIES = "scoring differs between trials (item sum or item mean), so no range is given"
INSTRUMENTS = {
    "Beck scale for Suicidal Ideation": Instrument("bss", "suicidal ideation", False, "0", "38"),
    "BASIS-24 - high support": Instrument(
        "basis24-high", "behaviour and symptoms", False, "0", "4",
        "Behavior and Symptom Identification Scale, mean item score; high-support subgroup"),
    "BASIS-24 - low support": Instrument(
        "basis24-low", "behaviour and symptoms", False, "0", "4",
        "Behavior and Symptom Identification Scale, mean item score; low-support subgroup"),
    "Boston Empowerment Scale": Instrument(
        "empowerment", "empowerment", True, "1", "4",
        "Rogers et al. (1997) Empowerment Scale, mean item score"),
    "Brief Psychiatric Rating Scale": Instrument(
        "bprs", "psychiatric symptoms", False, notes=_RANGE_VARIES),
    "Brief Symptom Inventory": Instrument("bsi", "psychological symptoms", False,
                                          notes=_RANGE_VARIES),
    "Brief Symptom Inventory - Global": Instrument(
        "bsi-gsi", "psychological symptoms", False, "0", "4", "Global Severity Index"),
    "CAPE": Instrument(
        "cape", "psychotic experiences", False, "1", "4",
        "Community Assessment of Psychic Experiences, mean item frequency score"),
    "CES-D": Instrument("cesd", "depression", False, "0", "60"),
    "CGI": Instrument("cgi", "illness severity", False, "1", "7",
                      "Clinical Global Impression - severity"),
    "Dutch Empowerment Scale": Instrument("empowerment", "empowerment", True,
                                          notes="mean item score"),
    "ED-QOL (Eating Disorder Quality of Life assessment survey)": Instrument(
        "edqol", "eating-disorder quality of life", False, "0", "4",
        "higher scores mean poorer quality of life (impairment); mean item score"),
    "Empowerment Scale": Instrument(
        "empowerment", "empowerment", True, "1", "4",
        "Rogers et al. (1997) Empowerment Scale, mean item score"),
    "Empowerment Scale -Power-powerlessness subscale": Instrument(
        "empowerment-power", "empowerment", True, "1", "4",
        "power-powerlessness subscale, mean item score"),
    "EPDS": Instrument("epds", "postnatal depression", False, "0", "30",
                       "Edinburgh Postnatal Depression Scale"),
    "EPSI": Instrument("epsi", "eating-disorder symptoms", False,
                       notes="Eating Pathology Symptoms Inventory"),
    "EQ-5D - health state today": Instrument("eq5d-vas", "health-related quality of life", True,
                                             "0", "100", "visual analogue scale"),
    "EQ-5D - POOLED": Instrument("eq5d", "health-related quality of life", True,
                                 notes="effect pooled over EQ-5D scores by Metapsy"),
    "EUROHIS QOL 8": Instrument("eurohis-qol", "quality of life", True, "1", "5",
                                "mean item score"),
    "GAF—Global Assessment of Functioning": Instrument(
        "gaf", "global functioning", True, "1", "100"),
    "General Self-Efficacy Scale (GSE)": Instrument("gse", "self-efficacy", True, "10", "40"),
    "HSCL-25": Instrument("hscl25", "anxiety and depression symptoms", False, "1", "4",
                          "Hopkins Symptom Checklist-25, mean item score"),
    "Hope Scale": Instrument("hope", "hope", True),
    "Lancashire Quality of Life Profile": Instrument("lqolp", "quality of life", True, "1", "7",
                                                     "mean item score"),
    "Lehman's Quality of Life - subjective QoL": Instrument(
        "lehman-qol", "quality of life", True, "1", "7", "Lehman Quality of Life Interview"),
    "Lehman’s QoL - POOLED (high)": Instrument(
        "lehman-qol-high", "quality of life", True,
        notes="effect pooled over Lehman QoL scores by Metapsy; high-support subgroup"),
    "Lehman’s QoL - POOLED (low)": Instrument(
        "lehman-qol-low", "quality of life", True,
        notes="effect pooled over Lehman QoL scores by Metapsy; low-support subgroup"),
    "Lehman’s quality of life (QOL)": Instrument(
        "lehman-qol", "quality of life", True, "1", "7", "Lehman Quality of Life Interview"),
    "Manchester Short Assessment of Quality of Life": Instrument(
        "mansa", "quality of life", True, "1", "7", "mean item score"),
    "Mental Health Confidence Scale -total score": Instrument(
        "mhcs", "self-efficacy", True, "16", "96"),
    "Perceived Social Support for Parenting": Instrument("pssp", "social support", True),
    "Personal Growth and Recovery Scale": Instrument("pgrs", "personal recovery", True,
                                                     notes="mean item score"),
    "POOLED - Lehman Quality of Life Inventory": Instrument(
        "lehman-qol", "quality of life", True,
        notes="effect pooled over Lehman QoL scores by Metapsy"),
    "POOLED! NIH toolbox Social relationships": Instrument(
        "nih-social", "social relationships", True,
        notes="effect pooled over NIH Toolbox social relationship scales by Metapsy "
              "(already oriented: positive favours peer support)"),
    "Quality of Life Scale (QLS)": Instrument("qls", "quality of life", True),
    "Questionnaire on the Process of Recovery": Instrument("qpr", "personal recovery", True,
                                                           "0", "60", "15-item version"),
    "RAS - total": Instrument("ras", "personal recovery", True, notes="Recovery Assessment Scale; "
                              + _RANGE_VARIES),
    "RAS - Total": Instrument("ras", "personal recovery", True, notes="Recovery Assessment Scale; "
                              + _RANGE_VARIES),
    "RAS - total (high)": Instrument("ras-high", "personal recovery", True,
                                     notes="Recovery Assessment Scale; high-support subgroup"),
    "RAS - total (low)": Instrument("ras-low", "personal recovery", True,
                                    notes="Recovery Assessment Scale; low-support subgroup"),
    "Rosenberg Self-Esteem Scale": Instrument("rses", "self-esteem", True),
    "SCID": Instrument("scid-mdd", "depression diagnosis", False,
                       notes="presence of a major depressive disorder diagnosis (SCID)"),
    "SF-36 - POOLED": Instrument("sf36", "health-related quality of life", True, "0", "100",
                                 "effect pooled over SF-36 scales by Metapsy"),
    "SF-36- mean of two items on social functioning": Instrument(
        "sf36-social", "social functioning", True, "0", "100"),
    "Social Provisions Scale (SPS)": Instrument("sps", "social support", True, "24", "96"),
    "Texas Christian University Health Form (TCU-HF) - psychological distress": Instrument(
        "tcu-distress", "psychological distress", False),
    "Total LSP": Instrument("lsp", "life skills", True, "39", "156",
                            "Life Skills Profile, 39 items scored 1-4"),
    "UCLA Loneliness Scale (LS)": Instrument("ucla", "loneliness", False, notes=_RANGE_VARIES),
    "Well-being scale": Instrument("wellbeing", "well-being", True),
    "WHOQOL -total": Instrument("whoqol", "quality of life", True),
    "WHOQOL-BREF - environment": Instrument("whoqol-environment", "quality of life", True,
                                            "4", "20", "environment domain, raw score"),
}


class SourceError(Exception):
    """A problem with the input, reported as one line naming file, line and column."""


@dataclass(frozen=True)
class SourceRow:
    """One record of ``data.csv`` with its line number (header = line 1)."""

    line: int
    cells: dict

    def text(self, column: str) -> str:
        return self.cells[column]

    def where(self, column: str) -> str:
        return f"data.csv:{self.line}: column {column!r}"


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Windows-1252 (``"RÃ¼sch"`` -> ``"Rüsch"``).

    Encoding with cp1252 gives back the original UTF-8 bytes, which are then decoded as UTF-8.
    Text that is already correct fails the round trip (its cp1252 bytes are not valid UTF-8)
    and is returned unchanged, so no list of names is needed.
    """
    if text.isascii():
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def read_source(path: Path) -> list[SourceRow]:
    """Read a Metapsy ``data.csv`` into rows of repaired text cells (missing -> ``""``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"'))
    if not records:
        raise SourceError(f"{path.name}:1: empty file")
    header = [repair_mojibake(h) for h in records[0]]
    missing = [c for c in REQUIRED_SOURCE_COLUMNS if c not in header]
    if missing:
        raise SourceError(f"{path.name}:1: missing column(s) {', '.join(missing)}")
    rows = []
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise SourceError(f"{path.name}:{line}: {len(record)} fields, header has "
                               f"{len(header)} (separator ';' expected)")
        cells = {h: ("" if c.strip() in MISSING else repair_mojibake(c.strip()))
                 for h, c in zip(header, record)}
        rows.append(SourceRow(line, cells))
    if not rows:
        raise SourceError(f"{path.name}:2: no data rows")
    return rows


def number(row: SourceRow, column: str, *, integer: bool = False, required: bool = False) -> str:
    """Return the cell as a dot-decimal number string (source digits kept) or ``""``."""
    value = row.text(column)
    if value == "":
        if required:
            raise SourceError(f"{row.where(column)}: value is missing")
        return ""
    value = value.replace(",", ".")
    try:
        parsed = float(value)
    except ValueError:
        raise SourceError(f"{row.where(column)}: {row.text(column)!r} is not a number") from None
    if not math.isfinite(parsed):
        raise SourceError(f"{row.where(column)}: {row.text(column)!r} is not finite")
    if integer and (not parsed.is_integer() or parsed < 0):
        raise SourceError(f"{row.where(column)}: {row.text(column)!r} is not a count")
    return str(int(parsed)) if integer else value


def mapped(row: SourceRow, column: str, mapping: dict, *, required: bool = True,
           value: str | None = None):
    """Look the cell (or ``value``) up in ``mapping``; unknown values are an error."""
    value = row.text(column) if value is None else value
    if value == "" and not required:
        return ""
    if value not in mapping:
        known = ", ".join(sorted(mapping))
        raise SourceError(f"{row.where(column)}: unknown value {value!r} (known: {known}; "
                          f"extend the mapping in analysis/metapsy.py)")
    return mapping[value]


def study_key(label: str) -> tuple[str, str]:
    """``(study_id, label)`` for a Metapsy study label such as ``"Rüsch, 2014"``.

    Rule: surname folded to ASCII, lower case, without spaces and apostrophes, up to its first
    hyphen, followed by the year and any letter suffix ("van Gestel-Timmermans, 2012" ->
    ``vangestel2012``). Labels whose letter suffix clashes with other sources are named in
    ``LABEL_OVERRIDES``.
    """
    if label in LABEL_OVERRIDES:
        return LABEL_OVERRIDES[label]
    surname, _, year = label.rpartition(",")
    ascii_name = unicodedata.normalize("NFKD", surname).encode("ascii", "ignore").decode()
    slug = "".join(ch for ch in ascii_name.lower() if ch.isalnum() or ch == "-").split("-")[0]
    return f"{slug}{year.strip().lower()}", f"{surname.strip()} {year.strip()}"


def group_by_study(rows: list[SourceRow]) -> dict[str, list[SourceRow]]:
    """Rows per Metapsy study label, in file order."""
    groups: dict[str, list[SourceRow]] = {}
    for row in rows:
        if row.text("study") == "":
            raise SourceError(f"{row.where('study')}: value is missing")
        groups.setdefault(row.text("study"), []).append(row)
    return groups


def study_value(rows: list[SourceRow], column: str) -> str:
    """A study-level value that must agree across the study's rows (missing cells ignored)."""
    values = [r.text(column) for r in rows if r.text(column) != ""]
    distinct = list(dict.fromkeys(values))
    if len(distinct) > 1:
        first = next(r for r in rows if r.text(column) != distinct[1])
        other = next(r for r in rows if r.text(column) == distinct[1])
        raise SourceError(f"{other.where(column)}: {distinct[1]!r} differs from {distinct[0]!r} "
                           f"on data.csv:{first.line} of the same study")
    return distinct[0] if distinct else ""


def study_notes(rows: list[SourceRow]) -> str:
    """Metapsy's descriptive study columns that the schema has no column for."""
    parts = []
    for column, name in [("disorder", "disorder"), ("diagnosis_inclusion", "inclusion"),
                         ("recruitment", "recruitment"), ("in_out_patients", "patients"),
                         ("duration_int", "intervention duration")]:
        values = list(dict.fromkeys(r.text(column) for r in rows if r.text(column) != ""))
        if values:
            parts.append(f"{name}: {' / '.join(values)}")
    return "Metapsy coding: " + "; ".join(parts)


def population(rows: list[SourceRow], label: str) -> str:
    """SMI -> smi; perinatal depression -> depression-perinatal; other depression -> other."""
    if label in POPULATION_OVERRIDES:
        return POPULATION_OVERRIDES[label]
    disorder = study_value(rows, "disorder")
    if disorder == "SMI":
        return "smi"
    if disorder == "depression":
        return "depression-perinatal" if study_value(rows, "perinatal") == "Yes" else "other"
    if disorder == "other":
        return "other"
    raise SourceError(f"{rows[0].where('disorder')}: unknown value {disorder!r} "
                       "(known: SMI, depression, other)")


def convert_study(label: str, rows: list[SourceRow]) -> dict:
    """The ``studies.csv`` row of one Metapsy study.

    Study-level columns must agree across the study's rows (:func:`study_value`); coded values
    are mapped to the schema's terms (``FORMATS``, ``DELIVERIES``, ``COMPARATORS``,
    ``STRUCTURES``, ``COUNTRIES``), the population by :func:`population`. Every trial of the
    database randomised individuals to two arms; setting, peer role and randomised total are
    left empty (Metapsy does not code them), and the descriptive columns the schema lacks go to
    ``notes`` (:func:`study_notes`).

    Parameters
    ----------
    label : str
        The Metapsy study label, e.g. ``"Rüsch, 2014"`` (see :func:`study_key`).
    rows : list of SourceRow
        The study's rows of ``data.csv``, in file order.

    Returns
    -------
    dict
        The row, keyed by ``STUDY_COLUMNS``. Raises :class:`SourceError` for values that
        disagree between rows or are not in a mapping.
    """
    study_id, display = study_key(label)
    first = rows[0]

    def value(column: str, mapping: dict | None = None, **kwargs) -> str:
        agreed = study_value(rows, column)
        row = next((r for r in rows if r.text(column) == agreed), first)
        if mapping is None:
            return number(row, column, **kwargs)
        return mapped(row, column, mapping, required=False, value=agreed)

    country = study_value(rows, "country")
    return {
        "study_id": study_id,
        "label": display,
        "first_author": label.rpartition(",")[0].strip(),
        "year": value("year", integer=True, required=True),
        "country": COUNTRIES.get(country, country),
        # Metapsy lists RCTs without the unit of randomisation; every trial of this database
        # randomised individuals. multi_arm1/multi_arm2 are NA: one comparison of two arms.
        "design": "individual-rct",
        "arms": "2",
        "population": population(rows, label),
        "format": value("format", FORMATS),
        "delivery": value("delivery", DELIVERIES),
        "setting": "",
        "peer_role": "",
        "comparator": value("condition_arm2", {k: v[0] for k, v in COMPARATORS.items()}),
        "n_total": "",
        "mean_age": value("mean_age"),
        "percent_women": value("percent_women"),
        "structure": value("structure_intervention", STRUCTURES),
        "outcome_data": "extracted",
        "citation_key": study_id,
        "source": SOURCE,
        "source_row": f"data.csv:{first.line}",
        "notes": study_notes(rows),
    }


def effect_se_reason(row: SourceRow) -> str:
    """The note saying why a row becomes an ``effect-se`` row with ``yi = .g``.

    A dichotomous outcome (its event columns are misaligned in this database), an effect Metapsy
    pooled over sub-scales (``pooled`` in the instrument name), or a row without arm means and SDs.
    """
    if row.text("outcome_type") == "dich":
        return ("dichotomous outcome: yi = .g as converted by Metapsy (event columns of this "
                "database are misaligned)")
    if "pooled" in row.text("instrument").lower():
        return "effect pooled over sub-scales by Metapsy: yi = .g"
    return "no arm means/SDs in the source: yi = .g"


def convert_outcome(row: SourceRow, study_id: str) -> dict:
    """The ``outcomes.csv`` row of one record of ``data.csv``.

    A continuous record with arm means, SDs and ns becomes an ``msd`` row; any other becomes an
    ``effect-se`` row with ``yi = .g`` and ``sei = .g_se`` (arm ns kept, means and SDs left empty)
    and the reason in ``notes`` (:func:`effect_se_reason`). Every row keeps ``.g`` and ``.g_se`` in
    ``recorded_g`` and ``recorded_g_se``; ``time_weeks`` is left empty and the Metapsy value is
    noted (see the module docstring). ``outcome_id`` is ``<study_id>-<instrument code>``.

    Parameters
    ----------
    row : SourceRow
        The record.
    study_id : str
        The review's identifier of the record's study (:func:`study_key`).

    Returns
    -------
    dict
        The row, keyed by ``OUTCOME_COLUMNS``. Raises :class:`SourceError` for an instrument,
        comparator, category or sub-category not in its mapping, a time point other than
        ``post``, a missing ``.g`` or ``.g_se`` and a number cell that does not parse.
    """
    instrument = row.text("instrument")
    spec = mapped(row, "instrument", INSTRUMENTS)
    comparator, arm2 = mapped(row, "condition_arm2", COMPARATORS)
    if row.text("time") != "post":
        raise SourceError(f"{row.where('time')}: {row.text('time')!r} is not 'post' "
                           "(follow-up rows need a timepoint rule)")
    arms = {key: number(row, col, integer=key.startswith("n"))
            for key, col in [("n1", "n_arm1"), ("mean1", "mean_arm1"), ("sd1", "sd_arm1"),
                             ("n2", "n_arm2"), ("mean2", "mean_arm2"), ("sd2", "sd_arm2")]}
    g = number(row, ".g", required=True)
    g_se = number(row, ".g_se", required=True)
    has_msd = all(arms.values()) and row.text("outcome_type") == "msd"
    notes = [f"Metapsy time_weeks = {number(row, 'time_weeks') or 'NA'} "
             "(not weeks after randomisation; exact time unknown)"]
    if not has_msd:
        notes.append(effect_se_reason(row))
        arms.update(mean1="", sd1="", mean2="", sd2="")
    return {
        "outcome_id": f"{study_id}-{spec.code}",
        "study_id": study_id,
        "arm1": row.text("condition_arm1").lower(),
        "arm2": arm2,
        "comparator": comparator,
        "category": mapped(row, "outcome_category", CATEGORIES),
        "subdomain": mapped(row, "outcome_subcategory", SUBDOMAINS),
        "subdomain_source": row.text("outcome_subcategory"),
        "instrument": instrument,
        "timepoint": "post",
        "time_weeks": "",
        "data_type": "msd" if has_msd else "effect-se",
        **arms,
        "events1": "", "total1": "", "events2": "", "total2": "",
        "yi": "" if has_msd else g,
        "sei": "" if has_msd else g_se,
        "recorded_g": g,
        "recorded_g_se": g_se,
        "source": SOURCE,
        "source_row": f"data.csv:{row.line}",
        "verified": "unverified",
        "notes": "; ".join(notes),
    }


def rob_ratings(row: SourceRow) -> tuple[str, ...]:
    """The RoB 2 judgements of a record, domains 1 to 5 then overall, in the schema's terms.

    Each of ``ROB_SOURCE_COLUMNS`` is mapped by ``ROB_LEVELS``; a missing or unknown judgement
    raises :class:`SourceError`.
    """
    return tuple(mapped(row, col, ROB_LEVELS) for col in ROB_SOURCE_COLUMNS)


def convert_rob(study_id: str, rows: list[SourceRow], outcome_ids: list[str]) -> list[dict]:
    """One row per study (the ratings most rows share) plus one per outcome that differs."""
    ratings = [rob_ratings(r) for r in rows]
    common = max(dict.fromkeys(ratings), key=ratings.count)

    def record(outcome_id, rating, row):
        return {"study_id": study_id, "outcome_id": outcome_id,
                **dict(zip(["d1", "d2", "d3", "d4", "d5", "overall"], rating)),
                "source": SOURCE, "source_row": f"data.csv:{row.line}"}

    result = [record("", common, rows[ratings.index(common)])]
    result += [record(oid, rating, row) for oid, rating, row in zip(outcome_ids, ratings, rows)
               if rating != common]
    return result


def instrument_rows(outcomes: list[dict]) -> list[dict]:
    """The ``instruments.csv`` rows of the instruments ``outcomes`` use, sorted by instrument text.

    Construct, direction (``higher_is_better`` as ``true``/``false``), scale range and notes come
    from ``INSTRUMENTS``.
    """
    used = sorted({o["instrument"] for o in outcomes})
    return [{"instrument": text, "construct": INSTRUMENTS[text].construct,
             "higher_is_better": "true" if INSTRUMENTS[text].higher_is_better else "false",
             "scale_min": INSTRUMENTS[text].scale_min, "scale_max": INSTRUMENTS[text].scale_max,
             "notes": INSTRUMENTS[text].notes, "source": SOURCE} for text in used]


def search_flow(metadata: Path, n_studies: int) -> dict:
    """PRISMA 2020 counts from ``metadata/search_flow.json`` (derived counts are checked)."""
    path = metadata / "search_flow.json"
    try:
        flow = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read ({exc})") from None
    keys = ["database.hits", "additional.records", "database.hits.duplicates.removed",
            "records.screened", "full.text.assessed.for.eligibility",
            "full.text.excluded.reasons", "included"]
    absent = [k for k in keys if k not in flow]
    if absent:
        raise SourceError(f"{path}: missing key(s) {', '.join(absent)}")
    reasons = flow["full.text.excluded.reasons"]
    excluded = sum(reasons.values())
    if flow["full.text.assessed.for.eligibility"] - excluded != flow["included"]:
        raise SourceError(f"{path}: assessed ({flow['full.text.assessed.for.eligibility']}) "
                           f"minus excluded ({excluded}) is not included ({flow['included']})")
    if flow["included"] != n_studies:
        raise SourceError(f"{path}: included = {flow['included']} but data.csv has "
                           f"{n_studies} studies")
    last_search = metadata / "last_search.txt"
    identified = flow["database.hits"] + flow["additional.records"]
    # Metapsy's "database.hits.duplicates.removed" is the count left after removing duplicates
    # (it equals records.screened), so duplicates = identified - that count.
    return {
        "source": f"{SOURCE}:metadata/search_flow.json",
        "last_search": last_search.read_text(encoding="utf-8").strip()
        if last_search.exists() else None,
        "database_results": flow["database.hits"],
        "other_sources_results": flow["additional.records"],
        "duplicates_removed": identified - flow["database.hits.duplicates.removed"],
        "records_screened": flow["records.screened"],
        "records_excluded": flow["records.screened"] - flow["full.text.assessed.for.eligibility"],
        "reports_assessed": flow["full.text.assessed.for.eligibility"],
        "reports_excluded": excluded,
        "reports_excluded_reasons": reasons,
        "studies_included": flow["included"],
        "notes": "duplicates_removed = database_results + other_sources_results - records after "
                 "duplicate removal; records_excluded = records_screened - reports_assessed.",
    }


def convert(source_dir: Path) -> dict:
    """Convert a Metapsy directory into the review's tables (lists of row dicts)."""
    rows = read_source(source_dir / "data.csv")
    studies, outcomes, rob = [], [], []
    for label, study_rows in group_by_study(rows).items():
        study = convert_study(label, study_rows)
        converted = [convert_outcome(r, study["study_id"]) for r in study_rows]
        studies.append(study)
        outcomes += converted
        rob += convert_rob(study["study_id"], study_rows, [o["outcome_id"] for o in converted])
    check_unique(studies, "study_id")
    check_unique(outcomes, "outcome_id")
    return {
        "studies.csv": (STUDY_COLUMNS, studies),
        "outcomes.csv": (OUTCOME_COLUMNS, outcomes),
        "instruments.csv": (INSTRUMENT_COLUMNS, instrument_rows(outcomes)),
        "risk_of_bias.csv": (ROB_COLUMNS, rob),
        "search_flow.json": search_flow(source_dir / "metadata", len(studies)),
    }


def check_unique(records: list[dict], key: str) -> None:
    """Check that no two converted records have the same ``key``.

    Raises :class:`SourceError` naming the source rows of both records (two study labels that
    give one ``study_id``, or two records of a study whose instruments have one code).
    """
    seen: dict[str, str] = {}
    for record in records:
        if record[key] in seen:
            raise SourceError(f"{record['source_row']}: {key} {record[key]!r} also produced by "
                              f"{seen[record[key]]} (see study_key and the INSTRUMENTS codes)")
        seen[record[key]] = record["source_row"]


def preserved_rows(path: Path, columns: list[str], key: list[str],
                   imported: list[dict]) -> list[dict]:
    """Rows of an existing table that this importer did not create (``source`` not metapsy)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != columns:
            raise SourceError(f"{path}:1: columns {reader.fieldnames} differ from the schema "
                              f"{columns}")
        kept = [(line, row) for line, row in enumerate(reader, start=2)
                if not (row["source"] or "").startswith("metapsy")]
    ours = {tuple(r[k] for k in key) for r in imported}
    for line, row in kept:
        if tuple(row[k] for k in key) in ours:
            raise SourceError(f"{path}:{line}: column {key[0]!r}: "
                              f"{', '.join(row[k] for k in key)!r} is also created by the "
                              "Metapsy import")
    return [row for _, row in kept]


def write_csv(path: Path, columns: list[str], records: list[dict]) -> None:
    """Write ``records`` as a CSV table with the header ``columns``, in the order given.

    Lines end with a line feed whatever the platform; the file is replaced atomically
    (:func:`analysis.dataset.files.atomic_write`).
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    atomic_write(path, buffer.getvalue())


def sign_disagreements(outcomes: list[dict]) -> list[str]:
    """Source rows whose recorded g and oriented mean difference disagree in sign.

    Returns the ``source_row`` of each ``msd`` row whose recorded g has the opposite sign of its
    mean difference ``mean1 - mean2`` oriented by the instrument's direction (negated where lower
    is better): the plausibility check of each instrument's direction.
    """
    result = []
    for o in outcomes:
        if o["data_type"] != "msd":
            continue
        difference = float(o["mean1"]) - float(o["mean2"])
        if not INSTRUMENTS[o["instrument"]].higher_is_better:
            difference = -difference
        if difference * float(o["recorded_g"]) < 0:
            result.append(o["source_row"])
    return result


def run(source_dir: Path, out: Path) -> dict:
    """Convert ``source_dir`` and write the tables into ``out``; return the converted tables."""
    tables = convert(source_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in tables.items():
        if name.endswith(".json"):
            atomic_write(out / name, json.dumps(content, indent=2, ensure_ascii=False) + "\n")
            continue
        columns, records = content
        kept = preserved_rows(out / name, columns, KEYS[name], records)
        # One deterministic order for imported and preserved rows alike: by primary key.
        merged = sorted(records + kept, key=lambda r: tuple(r[k] for k in KEYS[name]))
        write_csv(out / name, columns, merged)
    return tables
