"""Import of the source reviews' structured extractions into ``data/``.

``python -m analysis import-characteristics PATH``; ``PATH`` is the ``extractions/`` folder.

Writes four tables, each sorted by its primary key so that a re-run gives byte-identical files:

- ``study_characteristics.csv``: trial sizes, the classifications of the source reviews (setting:
  Egmose et al. 2023; peer role and adjunctive/substitute capacity: White et al. 2020; type of
  group: Lyons et al. 2021), intervention, duration, follow-up and outcomes reported, one row per
  trial x characteristic x source row, with the text as printed (see
  :mod:`analysis.dataset.characteristics`);
- ``estimate_trials.csv``: the trials that each published pooled estimate pooled, where the review
  cites them or the extraction inferred them;
- ``implementation_findings.csv`` and ``experience_findings.csv``: the umbrella review's
  implementation findings by CFIR domain (Cooper et al. 2024, Table 5 and narrative) and its
  experiences findings by theme and perspective (Table 6).

Rules (documented here and in ``data/README.md``):

- Trials are matched through ``study_reviews.csv``, whose ``source_row`` names the extraction row
  of each trial; the label of that row must be the ``label_in_review`` recorded there. Where the
  review's label differs from ours, :data:`MATCH_REASONS` says why it is the same trial.
- A value enters only as the extraction or the review prints it: a cell the rules below do not
  recognise stops the import with a message naming file, line and column (never a guess).
  Ambiguous cells ("118 or 117") and cells that record a contradiction in the review become rows
  with status ``ambiguous`` or ``disagreement`` and no value.
- Trial sizes: the review's table as printed (White et al. 2020 Table 1, basis ``not-stated``:
  the table does not say whether the numbers were randomised or analysed), Metapsy's
  ``baseline_n_arm1/2`` (basis ``baseline``) and the largest ``n_arm1 + n_arm2`` of the trial's
  Metapsy rows (basis ``analysed``), read from the vendored snapshot
  ``data/sources/metapsy-peer-support/data.csv``.
- Peer role: White et al. (2020) place their trials in three families in the Discussion (lines
  quoted in :data:`WHITE_ROLE_FAMILIES`); a trial's family is the one whose quoted reference list
  holds the trial's reference number. Trials White does not place stay unclassified.
- Rows of ``study_characteristics.csv`` whose ``source`` is neither a review (``seed:``) nor
  Metapsy were entered by hand from other sources (e.g. a trial report found by a search recorded
  in ``awaiting_searches.csv``) and are kept as they are.
- Every trial with outcome data gets, for each required characteristic that no source reports, a
  row saying why (the trial is not among the review's trials, with the review's stated limit
  where one applies, :data:`REVIEW_LIMITS`; or no source gives it).
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from analysis.dataset.characteristics import REQUIRED, REQUIRED_FOR_GROUPS
from analysis.dataset.files import atomic_write
from analysis.dataset.metapsy import SOURCE as METAPSY_SOURCE
from analysis.dataset.metapsy import read_source, study_key

EGMOSE, WHITE_LYONS, UMBRELLA = "seed_001", "seeds_000_003", "seed_002_004"
WHITE_SEED = "seeds/000_4a34b80370a3ffa2.txt"
EGMOSE_SEED = "seeds/001_b8a7667d3ecb634d.txt"
UMBRELLA_SEED = "seeds/002_957597d0dd56c2da.txt"
LYONS_SEED = "seeds/003_9bdd69326ff78c97.txt"
SOURCES = {"white2020": "seed:white2020", "lyons2021": "seed:lyons2021", "egmose2023": "seed:egmose2023"}

CHARACTERISTIC_COLUMNS = ["study_id", "characteristic", "value", "status", "basis", "as_printed", "source",
                          "source_row", "source_detail", "notes"]
ESTIMATE_TRIAL_COLUMNS = ["estimate_id", "study_id", "basis", "source", "source_row", "notes"]
IMPLEMENTATION_COLUMNS = ["finding_id", "cfir_domain", "role", "role_basis", "finding", "reviews",
                          "domain_reviews", "source", "source_row", "source_detail", "notes"]
EXPERIENCE_COLUMNS = ["finding_id", "theme", "subtheme", "valence", "perspective", "perspective_as_written",
                      "reviews", "row_reviews", "description", "source", "source_row", "source_detail", "notes"]
KEYS = {
    "study_characteristics.csv": ("study_id", "characteristic", "source", "source_row", "basis"),
    "estimate_trials.csv": ("estimate_id", "study_id"),
    "implementation_findings.csv": ("finding_id",),
    "experience_findings.csv": ("finding_id",),
}

#: Why a review's label names the same trial as ours, where the two differ (review, study_id).
MATCH_REASONS = {
    ("white2020", "chinman2015"): "White et al. (2020) cite the cluster trial of peer specialists added to "
                                  "intensive case management (468 participants) as Chinman 2013; Egmose et al. "
                                  "(2023) cite its report as Chinman 2015.",
    ("white2020", "oconnell2018"): "White et al. (2020) report the trial across two papers [45, 86] under "
                                   "Sledge 2011; Metapsy labels the same trial of peer recovery mentors for "
                                   "people with repeated hospitalisations O'Connell, 2018.",
    ("egmose2023", "oconnell2018"): "Egmose et al. (2023) group their references 43 (O'Connell 2018) and 44 "
                                    "(Sledge 2011) as one trial (extractions/seed_001/trials.csv, H13).",
    ("egmose2023", "vangestel2012"): "The same surname; Egmose et al. (2023) capitalise 'Van'.",
}

#: White et al. (2020), Discussion: the three families of peer roles, as quoted from the review.
#: (family, source line(s), quote, reference numbers the quote places in the family)
WHITE_ROLE_FAMILIES = (
    ("paraclinical", "2060", "paraclinical roles, including case-management [23, 30, 39, 42] and healthcare "
     "assistant roles [35]", (23, 30, 39, 42, 35)),
    ("paraclinical", "1439", "Five studies reported peer workers working in case management roles "
     "[23, 30, 39, 42, 54]", (54,)),
    ("structured-behavioural", "2070", "a structured, behavioural focus [44, 62, 68, 74, 76]",
     (44, 62, 68, 74, 76)),
    ("flexible-recovery", "2075", "more peer-led support for recovery [45, 59, 63, 66, 71]",
     (45, 59, 63, 66, 71)),
)
WHITE_FAMILY_NOTES = {
    "paraclinical": "White et al. (2020) call case management and healthcare-assistant roles paraclinical "
                    "(Discussion, line 2060).",
    "structured-behavioural": "White et al. (2020): recent adjunctive trials with 'a structured, behavioural "
                              "focus' (Discussion, line 2070).",
    "flexible-recovery": "White et al. (2020): 'a more social focus, with peer workers providing a less "
                         "structured, more peer-led support for recovery' (Discussion, lines 2070-2075); the "
                         "Abstract calls it 'more flexible support for recovery'.",
}
WHITE_DISCUSSION_LINES = "2058-2075"

#: Lyons et al. (2021): the line that places each type's trials, as quoted from the review.
LYONS_TYPES = {
    "self-management": ("183", "Four trialswere peer-led, self-management interventions [52, 53, 56, 58]"),
    "anti-stigma": ("191", "Three trials were manualised anti-stigma interventions [60,61,62]"),
    "mutual-support": ("173", "Only one study [59] used an unstructured intervention and was classified as "
                              "mutual support"),
}
#: Lyons' intervention_type cells (extraction) -> type.
LYONS_TYPE_CELLS = {
    "peer support group - self-management (structured)": "self-management",
    "peer support group - anti-stigma (structured, manualised)": "anti-stigma",
    "mutual support (unstructured)": "mutual-support",
}
#: Egmose's setting categories (extraction) -> our codes.
EGMOSE_SETTINGS = {"hospital-added": "added-to-services", "established role": "established-roles",
                   "independent": "independent-of-services", "online": "online"}
EGMOSE_SETTING_LINE = ("Results, line 96: the trials of each category by reference range (\"Twenty-six published "
                       "trials (30-58) ... Three trials (59-62) ... Thirteen trials (63-79) ... five trials "
                       "(80-87)\"; the dump drops the en-dashes); categories defined on line 36")

#: Limits each review states, quoted with their line; a trial outside them is explained by them.
REVIEW_LIMITS = {
    "egmose2023": {"label": "Egmose et al. (2023)", "from_year": 2000, "last_search_year": 2019,
                   "years": f"\"published since 2000 were included. The initial search was conducted in April "
                            f"2018, and an updated search was performed in June 2019\" ({EGMOSE_SEED} line 41)"},
    "white2020": {"label": "White et al. (2020)", "last_search_year": 2019, "format": "individual",
                  "years": f"\"from inception until 13 June 2019\" ({WHITE_SEED} lines 8-9)",
                  "formats": f"\"the effectiveness of one-to-one peer support interventions\" ({WHITE_SEED} "
                             "lines 5-6)"},
    "lyons2021": {"label": "Lyons et al. (2021)", "last_search_year": 2019, "format": "group",
                  "years": f"\"from inception until July 12th 2019\" ({LYONS_SEED} line 13)",
                  "formats": f"\"One-to-one peer support interventions and complex interventions involving group "
                             f"and individual peer support were excluded\" ({LYONS_SEED} line 97)"},
}
CLASSIFIED_BY = {"setting": "egmose2023", "peer_role": "white2020", "group_type": "lyons2021"}
CLASSIFICATION_FILE = {"egmose2023": f"extractions/{EGMOSE}/trials.csv",
                       "white2020": f"extractions/{WHITE_LYONS}/trials.csv",
                       "lyons2021": f"extractions/{WHITE_LYONS}/trials.csv"}

CFIR_DOMAINS = {"Innovation": "innovation", "Outer Setting": "outer-setting", "Inner Setting": "inner-setting",
                "Individuals": "individuals", "Implementation Process": "implementation-process"}
ROLE_BASES = {"stated in Results narrative": "stated", "inferred from wording (not labelled in source)": "inferred"}
PERSPECTIVES = {"PSW": "psws", "service users": "service-users", "service users (peer support group members)":
                "service-users", "staff (non-peer)": "staff", "mixed": "mixed",
                "organisations (mental health organisations)": "organisations"}
VALENCES = {"Benefit": "benefit", "Challenge": "challenge", "not stated": "not-stated"}

_NOT_REPORTED = re.compile(r"^(NR|n/a)\b")
_REF = re.compile(r"\[(\d+)\]")


class ExtractionError(Exception):
    """A problem with the input, reported as one line naming file, line and column."""


def read_csv(path: Path, label: str) -> list[tuple[int, dict]]:
    """Rows of a UTF-8 CSV with their line numbers (header = line 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExtractionError(f"{label}: file not found") from None
    except UnicodeDecodeError:
        raise ExtractionError(f"{label}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows, line = [], 2
    for row in reader:
        rows.append((line, row))
        line = reader.line_num + 1
    return rows


def cell(row: dict, column: str, where: str) -> str:
    """The stripped text of ``column`` (a missing column stops the import, naming ``where``)."""
    if column not in row:
        raise ExtractionError(f"{where}: column {column!r} missing")
    return (row[column] or "").strip()


def reported(text: str) -> bool:
    """Whether an extraction cell holds a value (not empty, not 'NR ...' or 'n/a')."""
    return bool(text) and not _NOT_REPORTED.match(text)


class Importer:
    """One run of the import: the rules of each extraction, applied to the trials of ``data``."""

    def __init__(self, extractions: Path, data: Path):
        self.root, self.data = Path(extractions), Path(data)
        self.studies = {r["study_id"]: r for _, r in read_csv(self.data / "studies.csv", "studies.csv")}
        self.links = [r for _, r in read_csv(self.data / "study_reviews.csv", "study_reviews.csv")]
        self.characteristics: list[dict] = []
        self.kept = preserved(self.data / "study_characteristics.csv")

    # -- matching -----------------------------------------------------------------------------
    def extraction_rows(self, folder: str, review_ids: tuple[str, ...]) -> list[tuple[str, str, int, dict]]:
        """(review_id, study_id, line, row) of every trial row of ``folder/trials.csv``."""
        rel = f"extractions/{folder}/trials.csv"
        rows = dict(read_csv(self.root / folder / "trials.csv", rel))
        by_row = {link["source_row"]: link for link in self.links if link["review_id"] in review_ids}
        out = []
        for line, row in sorted(rows.items()):
            link = by_row.get(f"{rel}:{line}")
            if link is None:
                raise ExtractionError(f"{rel}:{line}: trial {row.get('trial_label')!r} has no row in "
                                      "study_reviews.csv (add the trial to studies.csv and study_reviews.csv)")
            label = cell(row, "trial_label", f"{rel}:{line}")
            if label != link["label_in_review"]:
                raise ExtractionError(f"{rel}:{line}: column 'trial_label': {label!r} is not the label "
                                      f"{link['label_in_review']!r} that study_reviews.csv records for "
                                      f"{link['study_id']}")
            ours = self.studies[link["study_id"]]["label"]
            if label != ours and (link["review_id"], link["study_id"]) not in MATCH_REASONS:
                raise ExtractionError(f"{rel}:{line}: label {label!r} differs from {ours!r} of "
                                      f"{link['study_id']}: add the reason to MATCH_REASONS")
            out.append((link["review_id"], link["study_id"], line, row))
        return out

    def add(self, study_id, characteristic, value, status, as_printed, source, source_row, *, basis="",
            detail="", notes=""):
        self.characteristics.append({
            "study_id": study_id, "characteristic": characteristic, "value": value, "status": status,
            "basis": basis, "as_printed": as_printed, "source": source, "source_row": source_row,
            "source_detail": detail, "notes": notes})

    # -- Egmose et al. 2023 -------------------------------------------------------------------
    def egmose(self) -> None:
        rel = f"extractions/{EGMOSE}/trials.csv"
        for review, study_id, line, row in self.extraction_rows(EGMOSE, ("egmose2023",)):
            where, source = f"{rel}:{line}", SOURCES[review]
            category = cell(row, "setting_category", where)
            if category not in EGMOSE_SETTINGS:
                raise ExtractionError(f"{where}: column 'setting_category': unknown value {category!r} "
                                      f"(known: {', '.join(EGMOSE_SETTINGS)})")
            self.add(study_id, "setting", EGMOSE_SETTINGS[category], "reported", category, source, where,
                     detail=f"{EGMOSE_SEED} {EGMOSE_SETTING_LINE}")
            duration = cell(row, "intervention_duration", where)
            if reported(duration):
                self.add(study_id, "duration", duration, "reported", duration, source, where,
                         detail=f"{EGMOSE_SEED} line 101 (Results, Interventions)")
            outcomes = cell(row, "outcomes_in_reported_pooled_results", where)
            if reported(outcomes):
                self.add(study_id, "outcomes_reported", outcomes, "reported", outcomes, source, where,
                         detail=f"{EGMOSE_SEED} Results (Meta-Analysis): outcomes for which the review cites the "
                                "trial in a pooled result")

    # -- White et al. 2020 and Lyons et al. 2021 ----------------------------------------------
    def white_lyons(self) -> None:
        rel = f"extractions/{WHITE_LYONS}/trials.csv"
        for review, study_id, line, row in self.extraction_rows(WHITE_LYONS, ("white2020", "lyons2021")):
            where, source = f"{rel}:{line}", SOURCES[review]
            if cell(row, "review", where).lower() != review:
                raise ExtractionError(f"{where}: column 'review': {row['review']!r} but study_reviews.csv "
                                      f"links the row to {review}")
            if review == "white2020":
                self.white(study_id, row, where, source)
            else:
                self.lyons(study_id, row, where, source)
            for column, name, what in (("intervention", "intervention", "intervention"),
                                       ("follow_up", "follow_up", "follow-up"),
                                       ("outcomes_listed", "outcomes_reported", "outcomes")):
                text = cell(row, column, where)
                if reported(text):
                    table = "Table 1 (reconstructed from the text dump)" if review == "white2020" else \
                        "Results (Characteristics and outcome sections; Table 1 absent from the text)"
                    confidence = cell(row, "follow_up_mapping_confidence", where) if name == "follow_up" else ""
                    self.add(study_id, name, text, "reported", text, source, where,
                             detail=f"{review}: {table}, {what}",
                             notes=f"extraction's confidence: {confidence}" if confidence else "")

    def white(self, study_id: str, row: dict, where: str, source: str) -> None:
        table = "White et al. (2020) Table 1 (reconstructed from the text dump)"
        arms = cell(row, "n_per_arm_as_printed", where)
        confidence = cell(row, "n_mapping_confidence", where)
        detail = f"{table}, 'Sample size: intervention/control'"
        if " or " in arms:
            self.add(study_id, "n_per_arm", "", "ambiguous", arms, source, where, detail=detail,
                     notes=f"the text dump does not say which of the cells is this trial's: {confidence}")
        elif re.fullmatch(r"\d+(/\d+)+", arms):
            # only the printed arm cells enter; the extraction's total_n is its own sum of them
            order = ("peer support first; the order of the control arms is the extraction's assumption"
                     if arms.count("/") > 1 else "peer support first")
            self.add(study_id, "n_per_arm", arms, "reported", arms, source, where, basis="not-stated",
                     detail=detail, notes=f"{order}; extraction's confidence: {confidence}")
        else:
            raise ExtractionError(f"{where}: column 'n_per_arm_as_printed': {arms!r} not understood "
                                  "(expected a/b[/c])")
        capacity = cell(row, "peer_role", where)
        detail = f"{table}, 'Type' column (A adjunctive, S substitute) and Results ({WHITE_SEED} lines 1394-1407)"
        if "inconsistency" in capacity:
            self.add(study_id, "peer_capacity", "", "disagreement", capacity, source, where, detail=detail,
                     notes=f"the review contradicts itself: {capacity}")
        elif capacity.startswith(("A (", "S (")):
            value = "adjunctive" if capacity.startswith("A") else "substitute"
            self.add(study_id, "peer_capacity", value, "reported", capacity, source, where, detail=detail)
        else:
            raise ExtractionError(f"{where}: column 'peer_role': unknown value {capacity!r}")
        support = cell(row, "org_support", where)
        if not support.startswith(("H (", "L (")):
            raise ExtractionError(f"{where}: column 'org_support': unknown value {support!r}")
        self.add(study_id, "org_support", "higher" if support.startswith("H") else "lower", "reported", support,
                 source, where, detail=f"{table}, organisational support (higher: at least two of training, theory "
                                       f"and supervision; {WHITE_SEED} lines 248-260)",
                 notes=cell(row, "org_support_indicators", where))
        self.white_role(study_id, row, where, source)

    def white_role(self, study_id: str, row: dict, where: str, source: str) -> None:
        ref = cell(row, "reference_number_in_review", where)
        if not ref.isdigit():
            raise ExtractionError(f"{where}: column 'reference_number_in_review': {ref!r} is not a number")
        found = [(family, lines, quote) for family, lines, quote, refs in WHITE_ROLE_FAMILIES if int(ref) in refs]
        if not found:
            self.add(study_id, "peer_role", "", "not-classified", "", source,
                     f"{WHITE_SEED}:{WHITE_DISCUSSION_LINES}",
                     detail=f"White et al. (2020) Discussion; trial = reference [{ref}] ({where})",
                     notes=f"White et al. (2020) place reference [{ref}] in none of their three role families")
            return
        for family, lines, quote in found:
            self.add(study_id, "peer_role", family, "reported", quote, source, f"{WHITE_SEED}:{lines}",
                     detail=f"White et al. (2020); trial = reference [{ref}] ({where})",
                     notes=WHITE_FAMILY_NOTES[family])

    def lyons(self, study_id: str, row: dict, where: str, source: str) -> None:
        kind = cell(row, "intervention_type", where)
        if kind not in LYONS_TYPE_CELLS:
            raise ExtractionError(f"{where}: column 'intervention_type': unknown value {kind!r} "
                                  f"(known: {', '.join(LYONS_TYPE_CELLS)})")
        value = LYONS_TYPE_CELLS[kind]
        line, quote = LYONS_TYPES[value]
        self.add(study_id, "group_type", value, "reported", kind, source, where,
                 detail=f"{LYONS_SEED} line {line}: \"{quote}\"")

    # -- Metapsy (the vendored snapshot) ------------------------------------------------------
    def metapsy(self) -> None:
        path = self.data / "sources" / "metapsy-peer-support" / "data.csv"
        groups: dict[str, list] = {}
        for row in read_source(path):
            groups.setdefault(study_key(row.text("study"))[0], []).append(row)
        for study_id, rows in sorted(groups.items()):
            if study_id not in self.studies:
                raise ExtractionError(f"data.csv:{rows[0].line}: study {rows[0].text('study')!r} is not in "
                                      "studies.csv (run import-metapsy first)")
            # baseline sizes are optional columns of the Metapsy standard
            base = next((r for r in rows if _count(r.cells.get("baseline_n_arm1", ""))
                         and _count(r.cells.get("baseline_n_arm2", ""))), None)
            if base is not None:
                self.size(study_id, base, "baseline_n_arm1", "baseline_n_arm2", "baseline",
                          "Metapsy 'baseline_n_arm1/2': \"Number of participants at baseline\"")
            analysed = [r for r in rows if _count(r.text("n_arm1")) and _count(r.text("n_arm2"))]
            if analysed:
                largest = max(analysed, key=lambda r: int(r.text("n_arm1")) + int(r.text("n_arm2")))
                self.size(study_id, largest, "n_arm1", "n_arm2", "analysed",
                          "Metapsy 'n_arm1/2' of the trial's row with the most participants analysed (post-test)")
            seen = set()
            for r in rows:
                duration = r.text("duration_int")
                if duration and duration.lower() not in seen:
                    seen.add(duration.lower())
                    self.add(study_id, "duration", duration, "reported", duration, METAPSY_SOURCE,
                             f"data.csv:{r.line}", detail="Metapsy 'duration_int': total duration of the intervention")

    def size(self, study_id, row, arm1: str, arm2: str, basis: str, detail: str) -> None:
        n1, n2 = int(row.text(arm1)), int(row.text(arm2))
        printed = f"{arm1} = {row.text(arm1)}; {arm2} = {row.text(arm2)}"
        where = f"data.csv:{row.line}"
        self.add(study_id, "n_per_arm", f"{n1}/{n2}", "reported", printed, METAPSY_SOURCE, where, basis=basis,
                 detail=detail)

    # -- reasons for what no source gives -----------------------------------------------------
    def gaps(self) -> None:
        have = {(r["study_id"], r["characteristic"]) for r in self.characteristics + self.kept}
        reviews = {}
        for link in self.links:
            reviews.setdefault(link["study_id"], set()).add(link["review_id"])
        for study_id, study in sorted(self.studies.items()):
            if study["outcome_data"] != "extracted":
                continue
            needed = REQUIRED + (REQUIRED_FOR_GROUPS if study["format"] == "group" else ())
            for name in needed:
                if (study_id, name) in have or (name == "n_total" and (study_id, "n_per_arm") in have):
                    continue
                if name == "n_total":
                    self.add(study_id, name, "", "not-reported", "", METAPSY_SOURCE, "data.csv",
                             notes="no source we hold gives the trial's size: its Metapsy rows have no arm sizes "
                                   "and no other review's extraction gives them")
                    continue
                review = CLASSIFIED_BY[name]
                self.add(study_id, name, "", "not-classified", "", SOURCES[review], CLASSIFICATION_FILE[review],
                         notes=self.not_classified(study, review, review in reviews.get(study_id, ())))

    @staticmethod
    def not_classified(study: dict, review: str, included: bool) -> str:
        limits = REVIEW_LIMITS[review]
        if included:
            return f"the trial is among the trials of {limits['label']}, which do not classify it"
        head = f"not among the trials of {limits['label']}, whose classification this is"
        year, fmt = int(study["year"]), study["format"]
        if "from_year" in limits and year < limits["from_year"]:
            return f"{head}: published in {year}, before its limit ({limits['years']})"
        if year > limits["last_search_year"]:
            return f"{head}: published in {year}, after its last search ({limits['years']})"
        if "format" in limits and fmt and fmt != limits["format"]:
            return f"{head}: {fmt} peer support ({limits['formats']})"
        return f"{head}; the review gives no reason for trials it did not include"

    # -- trials of each published estimate ----------------------------------------------------
    def estimate_trials(self) -> list[dict]:
        egmose = dict(read_csv(self.root / EGMOSE / "pooled_results.csv", f"extractions/{EGMOSE}/pooled_results.csv"))
        egmose_trials = dict(read_csv(self.root / EGMOSE / "trials.csv", f"extractions/{EGMOSE}/trials.csv"))
        by_trial_id = {row["trial_id"]: line for line, row in egmose_trials.items()}
        wl = dict(read_csv(self.root / WHITE_LYONS / "pooled_results.csv",
                           f"extractions/{WHITE_LYONS}/pooled_results.csv"))
        wl_by_id = {row["row_id"]: line for line, row in wl.items()}
        cross = dict(read_csv(self.root / WHITE_LYONS / "crossref_seed002_secondary.csv",
                              f"extractions/{WHITE_LYONS}/crossref_seed002_secondary.csv"))
        link_of = {(link["review_id"], link["source_row"]): link["study_id"] for link in self.links}
        refs_of = {}
        for link in self.links:
            for ref in (link["ref_in_review"] or "").split(";"):
                if ref.strip().isdigit():
                    refs_of[(link["review_id"], int(ref))] = link["study_id"]
        out = []
        for _, est in read_csv(self.data / "published_estimates.csv", "published_estimates.csv"):
            source = est["source"]
            if m := re.search(rf"extractions/{EGMOSE}/pooled_results\.csv:(\d+)", source):
                line = int(m.group(1))
                text = cell(egmose[line], "trials_contributing_ids", f"pooled_results.csv:{line}")
                ids = [] if not reported(text) else text.split(";")
                unknown = [t for t in ids if t not in by_trial_id]
                if unknown:
                    raise ExtractionError(f"extractions/{EGMOSE}/pooled_results.csv:{line}: column "
                                          f"'trials_contributing_ids': unknown trial {unknown[0]!r}")
                for trial_id in ids:
                    row = f"extractions/{EGMOSE}/trials.csv:{by_trial_id[trial_id]}"
                    out.append({"estimate_id": est["estimate_id"], "study_id": link_of[("egmose2023", row)],
                                "basis": "cited", "source": "seed:egmose2023",
                                "source_row": f"extractions/{EGMOSE}/pooled_results.csv:{line}",
                                "notes": f"Egmose trial {trial_id}; the review cites its reference(s) for this result"})
                continue
            line = None
            if m := re.search(rf"extractions/{WHITE_LYONS}/pooled_results\.csv:(\d+)", source):
                line = int(m.group(1))
            elif m := re.search(rf"extractions/{WHITE_LYONS}/crossref_seed002_secondary\.csv:(\d+)", source):
                line = wl_by_id.get(cross[int(m.group(1))]["matching_row_in_pooled_results"])
            if line is None:
                continue
            row = wl[line]
            review = cell(row, "review", f"pooled_results.csv:{line}").lower()
            basis_text = cell(row, "trials_included_basis", f"pooled_results.csv:{line}")
            for segment in cell(row, "trials_included", f"pooled_results.csv:{line}").split(";"):
                refs = _REF.findall(segment)
                # a segment naming alternatives or a guess is not a membership ("[53] or [56]", "probably")
                if len(refs) != 1 or re.search(r"\bor\b|probably|minus|NR", segment):
                    continue
                study_id = refs_of.get((review, int(refs[0])))
                if study_id is None:
                    raise ExtractionError(f"extractions/{WHITE_LYONS}/pooled_results.csv:{line}: reference "
                                          f"[{refs[0]}] of {review} is not in study_reviews.csv")
                out.append({"estimate_id": est["estimate_id"], "study_id": study_id,
                            "basis": "cited" if basis_text.startswith("stated") or "stated" in segment else "inferred",
                            "source": SOURCES[review],
                            "source_row": f"extractions/{WHITE_LYONS}/pooled_results.csv:{line}",
                            "notes": f"as printed in the extraction: {segment.strip()}; basis: {basis_text}"})
        return out

    # -- the umbrella review's implementation and experiences findings ------------------------
    def review_ids(self, refs: str, where: str) -> tuple[str, list[str]]:
        """The review ids of the umbrella review's reference numbers ``refs`` ("36, 39").

        Also returns the numbers that are not included reviews (``reviews.csv``, ``ref_in_umbrella``).
        """
        if not hasattr(self, "_by_ref"):
            self._by_ref = {}
            for _, review in read_csv(self.data / "reviews.csv", "reviews.csv"):
                for ref in (review["ref_in_umbrella"] or "").split(";"):
                    if ref.strip():
                        self._by_ref[ref.strip()] = review["review_id"]
        by_ref = self._by_ref
        ids, unknown = [], []
        for ref in (r.strip() for r in refs.split(",")):
            if not ref:
                continue
            if not ref.isdigit():
                raise ExtractionError(f"{where}: reference {ref!r} is not a number")
            if ref in by_ref:
                if by_ref[ref] not in ids:
                    ids.append(by_ref[ref])
            else:
                unknown.append(ref)
        return "; ".join(ids), unknown

    def implementation(self) -> list[dict]:
        rel = f"extractions/{UMBRELLA}/implementation.csv"
        out = []
        for line, row in read_csv(self.root / UMBRELLA / "implementation.csv", rel):
            where = f"{rel}:{line}"
            domain, role, basis = (cell(row, c, where) for c in ("domain", "facilitator_or_barrier", "fb_basis"))
            if domain not in CFIR_DOMAINS or role not in ("facilitator", "barrier", "unclear") \
                    or basis not in ROLE_BASES:
                raise ExtractionError(f"{where}: columns 'domain'/'facilitator_or_barrier'/'fb_basis': "
                                      f"{domain!r}, {role!r}, {basis!r} not understood")
            reviews, unknown = self.review_ids(cell(row, "narrative_refs", where), where)
            domain_reviews, unknown_domain = self.review_ids(cell(row, "table5_domain_refs", where), where)
            notes = [f"{cell(row, 'item_source', where)}"]
            if excerpt := cell(row, "narrative_excerpt", where):
                notes.append(f"narrative: {excerpt}")
            if not reviews:
                notes.append("the review cites no review for this finding; the domain's reviews are listed")
            if unknown + unknown_domain:
                notes.append("references not among the included reviews: " + ", ".join(unknown + unknown_domain))
            out.append({"finding_id": cell(row, "item_id", where), "cfir_domain": CFIR_DOMAINS[domain],
                        "role": role, "role_basis": ROLE_BASES[basis], "finding": cell(row, "item_as_written", where),
                        "reviews": reviews, "domain_reviews": domain_reviews, "source": "seed:cooper2024",
                        "source_row": where, "source_detail": _umbrella_detail(cell(row, "source", where)),
                        "notes": "; ".join(notes)})
        return out

    def experiences(self) -> list[dict]:
        rel = f"extractions/{UMBRELLA}/experiences.csv"
        out = []
        for line, row in read_csv(self.root / UMBRELLA / "experiences.csv", rel):
            where = f"{rel}:{line}"
            valence, perspective = cell(row, "benefit_or_challenge", where), cell(row, "perspective_category", where)
            if valence not in VALENCES or perspective not in PERSPECTIVES:
                raise ExtractionError(f"{where}: columns 'benefit_or_challenge'/'perspective_category': "
                                      f"{valence!r}, {perspective!r} not understood")
            reviews, unknown = self.review_ids(cell(row, "perspective_refs", where), where)
            row_reviews, unknown_row = self.review_ids(cell(row, "row_refs_as_printed", where), where)
            notes = []
            if mixed := cell(row, "mixed_sample_composition", where):
                notes.append(f"mixed sample: {mixed}")
            if "group members" in perspective:
                notes.append("service users who were members of peer support groups")
            if check := cell(row, "ref_check", where):
                notes.append(f"extraction's check: {check}")
            if unknown + unknown_row:
                notes.append("references not among the included reviews: " + ", ".join(sorted(set(unknown + unknown_row),
                                                                                             key=int)))
            out.append({"finding_id": cell(row, "theme_id", where), "theme": cell(row, "overarching_theme", where),
                        "subtheme": cell(row, "subtheme", where), "valence": VALENCES[valence],
                        "perspective": PERSPECTIVES[perspective],
                        "perspective_as_written": cell(row, "perspective_as_written", where),
                        "reviews": reviews, "row_reviews": row_reviews,
                        "description": cell(row, "description_as_written", where), "source": "seed:cooper2024",
                        "source_row": where, "source_detail": _umbrella_detail(cell(row, "source", where)),
                        "notes": "; ".join(notes)})
        return out

    def tables(self) -> dict[str, tuple[list[str], list[dict]]]:
        self.egmose()
        self.white_lyons()
        self.metapsy()
        self.gaps()
        return {
            "study_characteristics.csv": (CHARACTERISTIC_COLUMNS, self.characteristics + self.kept),
            "estimate_trials.csv": (ESTIMATE_TRIAL_COLUMNS, self.estimate_trials()),
            "implementation_findings.csv": (IMPLEMENTATION_COLUMNS, self.implementation()),
            "experience_findings.csv": (EXPERIENCE_COLUMNS, self.experiences()),
        }


def preserved(path: Path) -> list[dict]:
    """Rows of an existing ``study_characteristics.csv`` that this import does not write.

    Values entered by hand from other sources: their ``source`` is an address, not ``seed:`` or Metapsy.
    """
    if not path.exists():
        return []
    rows = read_csv(path, path.name)
    for line, row in rows:
        if list(row) != CHARACTERISTIC_COLUMNS:
            raise ExtractionError(f"{path.name}:1: columns {list(row)} differ from {CHARACTERISTIC_COLUMNS}")
        break
    return [row for _, row in rows if not row["source"].startswith(("seed:", "metapsy"))]


def _count(text: str) -> bool:
    return text.isdigit() and int(text) > 0


def _umbrella_detail(text: str) -> str:
    """The extraction's location ('002 Table 5 line 453; ...') with the seed file named."""
    return re.sub(r"\b002\b", UMBRELLA_SEED, text, count=1)


def _sort_key(name: str, record: dict) -> tuple:
    key = []
    for column in KEYS[name]:
        value = record[column]
        # source rows sort by file, then line as a number ('data.csv:9' before 'data.csv:10')
        if column == "source_row" and (m := re.fullmatch(r"(.*):(\d+)(?:-\d+)?", value)):
            key.append((m.group(1), int(m.group(2))))
        elif column == "finding_id" and (m := re.fullmatch(r"([A-Z]+)(\d+)", value)):
            key.append((m.group(1), int(m.group(2))))
        else:
            key.append((value, -1))
    return tuple(key)


def run(extractions: Path, data: Path) -> dict[str, tuple[list[str], list[dict]]]:
    """Import ``extractions`` into ``data``; return the tables written (columns, records)."""
    tables = Importer(extractions, data).tables()
    for name, (columns, records) in tables.items():
        seen = {}
        for record in records:
            key = tuple(record[c] for c in KEYS[name])
            if key in seen:
                raise ExtractionError(f"{name}: two rows with key {key} (from {seen[key]} and {record['source_row']})")
            seen[key] = record.get("source_row")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(records, key=lambda r: _sort_key(name, r)))
        atomic_write(data / name, buffer.getvalue())
    return tables
