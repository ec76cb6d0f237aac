"""Trials of the seed reviews: data/studies.csv, data/study_reviews.csv and data/references.bib.

Counts per review are those the reviews enumerate: White et al. 2020 Table 1 (19 trials),
Lyons et al. 2021 reference list (8 trials in 11 articles), Egmose et al. 2023 (48 trials
enumerable from its text and reference list, although it says "49 RCTs"),
and the 28 trials of the Metapsy database behind Smit et al. 2022.
"""
import csv
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

from conftest import shared

DATA = Path(__file__).resolve().parents[1] / "data"
EXPECTED = {"white2020": 19, "lyons2021": 8, "egmose2023": 48, "smit2022": 28}
METAPSY_IDS = {"boevink2016", "castelein2008", "cook2012-wrap", "cook2012-bridges", "corrigan2017", "corrigan2018",
               "craig2004", "davidson2004", "dennis2003", "dennis2009", "gjerdingen2013", "griffiths2012",
               "johnson2018", "kaplan2011", "letourneau2011", "ludman2007", "mahlke2017", "oconnell2018",
               "pfeiffer2019", "ranzenhofer2020", "rivera2007", "rogers2016", "rusch2014", "russinova2014",
               "salzer2016", "shorey2019", "solomon1995", "vangestel2012"}


def rows(name):
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


STUDIES = {r["study_id"]: r for r in rows("studies.csv")}
LINKS = rows("study_reviews.csv")
BIB = (DATA / "references.bib").read_text(encoding="utf-8")
BIB_KEYS = re.findall(r"^@\w+\{([^,\s]+),", BIB, flags=re.M)


def author_year(label):
    """'Rüsch 2014' / 'Cook 2012 (WRAP)' / 'Cook, 2012a' -> 'rusch2014' / 'cook2012wrap' / 'cook2012a'."""
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text)


def test_links_resolve_to_studies():
    for link in LINKS:
        assert link["study_id"] in STUDIES, link


def test_link_keys_unique():
    keys = Counter((link["study_id"], link["review_id"]) for link in LINKS)
    assert [k for k, n in keys.items() if n > 1] == []


def test_counts_per_review():
    per_review = Counter(link["review_id"] for link in LINKS)
    assert dict(per_review) == EXPECTED


def test_metapsy_trials_linked_to_smit():
    assert {l["study_id"] for l in LINKS if l["review_id"] == "smit2022"} == METAPSY_IDS


def test_every_study_is_in_a_review_or_cites_its_own_report():
    linked = {link["study_id"] for link in LINKS}
    assert linked <= set(STUDIES), sorted(linked - set(STUDIES))
    for sid, study in STUDIES.items():
        if sid not in linked:
            # a trial found by the review's own update searches (no earlier review includes it):
            # its row cites its own report, not the Metapsy database or an earlier review
            assert not study["source"].startswith(("metapsy", "seed:")), sid


def test_seed_rows_are_not_metapsy_rows():
    outcome_sources = defaultdict(set)
    for o in rows("outcomes.csv"):
        outcome_sources[o["study_id"]].add(o["source"].startswith("metapsy"))
    for sid, s in STUDIES.items():
        assert (sid in METAPSY_IDS) == s["source"].startswith("metapsy"), sid
        assert s["citation_key"] == sid
        if not s["source"].startswith("metapsy"):
            # a trial of the other reviews awaits extraction, or was extracted from its own reports
            assert s["outcome_data"] == "not yet extracted" or outcome_sources[sid] == {False}, sid


def test_same_label_same_trial():
    # one trial cited under the same author+year label by two reviews must be one study
    by_label = defaultdict(set)
    for link in LINKS:
        if link["review_id"] != "smit2022":
            by_label[author_year(link["label_in_review"])].add(link["study_id"])
    assert {k: v for k, v in by_label.items() if len(v) > 1} == {}


def test_no_duplicate_trials_by_author_year():
    # two studies may share author and year only when a suffix word tells them apart
    groups = defaultdict(list)
    for sid, s in STUDIES.items():
        groups[author_year(s["first_author"] + s["year"])].append(sid)
    for key, sids in groups.items():
        if len(sids) > 1:
            assert all("-" in sid for sid in sids), sids


def test_bib_keys_unique_and_complete():
    assert len(BIB_KEYS) == len(set(BIB_KEYS))
    reviews = {r["review_id"] for r in rows("reviews.csv")} | {"egmose2023", "cooper2024"}
    assert set(STUDIES) | reviews <= set(BIB_KEYS)


def test_bib_braces_balanced():
    for chunk in re.split(r"\n(?=@)", BIB):
        body = re.sub(r"\\[{}]", "", chunk)
        assert body.count("{") == body.count("}"), chunk[:60]


def test_metapsy_links_point_at_rows_of_the_vendored_snapshot():
    for link in (link for link in LINKS if link["review_id"] == "smit2022"):
        name, line = link["source_row"].split(":")
        with open(DATA / "sources" / "metapsy-peer-support" / name, encoding="utf-8") as f:
            row = list(csv.reader(f, delimiter=";"))[int(line) - 1]
        assert row[1].replace("RÃ¼sch", "Rüsch") == link["label_in_review"], link


def test_review_links_point_at_extraction_rows():
    root = shared("extractions").parent
    for link in (link for link in LINKS if link["review_id"] != "smit2022"):
        rel, line = link["source_row"].split(":")
        with open(root / rel, encoding="utf-8", newline="") as f:
            row = list(csv.DictReader(f))[int(line) - 2]
        assert row["trial_label"] == link["label_in_review"], link


def test_counts_match_extractions():
    with open(shared("extractions", "seeds_000_003", "trials.csv"), encoding="utf-8", newline="") as f:
        seeds = Counter(r["review"].lower() for r in csv.DictReader(f))
    with open(shared("extractions", "seed_001", "trials.csv"), encoding="utf-8", newline="") as f:
        seeds["egmose2023"] = sum(1 for _ in csv.DictReader(f))
    per_review = Counter(link["review_id"] for link in LINKS)
    for review in ("white2020", "lyons2021", "egmose2023"):
        assert per_review[review] == seeds[review]
