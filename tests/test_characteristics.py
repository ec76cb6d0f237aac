"""Study characteristics with provenance: the import of the source reviews' extractions
(``python -m analysis import-characteristics``), the rules of ``study_characteristics.csv`` and the
value per trial that the analyses use.

Three kinds of test: on the frozen synthetic input of tests/extractions/ (what the import must make
of rows written for the purpose, and that two runs give the same bytes); on the real extractions in
``../shared`` (the shipped tables are exactly what the import writes from them, and every value
traces to its source row or quoted line); on the shipped data (the rules hold, every trial with
outcome data has its size, setting and peer role or a reason why not).
"""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import dataset
from analysis.commands import import_characteristics
from analysis.dataset import characteristics
from analysis.dataset.extractions import MATCH_REASONS, WHITE_ROLE_FAMILIES

from conftest import shared

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FROZEN = Path(__file__).parent / "extractions"
VALID = Path(__file__).parent / "bad_inputs" / "valid"
WRITTEN = ("study_characteristics.csv", "estimate_trials.csv", "implementation_findings.csv",
           "experience_findings.csv")


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def normalised(text: str) -> str:
    """Whitespace (line breaks, non-breaking spaces of the text dumps) folded to single spaces."""
    return " ".join(text.split())


def run_import(extractions: Path, data: Path) -> int:
    return import_characteristics.main([str(extractions), "--data", str(data)])


# --------------------------------------------------------------------------- frozen input


@pytest.fixture
def frozen(tmp_path) -> Path:
    target = tmp_path / "frozen"
    shutil.copytree(FROZEN, target)
    assert run_import(target / "extractions", target / "data") == 0
    return target


def by_key(path: Path) -> dict:
    return {(r["study_id"], r["characteristic"], r["source_row"], r["basis"]): r for r in rows(path)}


def test_frozen_import_is_byte_reproducible(frozen, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(FROZEN, again)
    assert run_import(again / "extractions", again / "data") == 0
    assert run_import(again / "extractions", again / "data") == 0
    for name in WRITTEN:
        assert (frozen / "data" / name).read_bytes() == (again / "data" / name).read_bytes(), name


def test_frozen_classifications(frozen):
    got = by_key(frozen / "data" / "study_characteristics.csv")
    # Egmose's category of the trial row, in our codes, with the cell as printed
    row = got[("alpha2010", "setting", "extractions/seed_001/trials.csv:2", "")]
    assert (row["value"], row["status"], row["as_printed"]) == ("added-to-services", "reported", "hospital-added")
    assert got[("beta2015", "setting", "extractions/seed_001/trials.csv:3", "")]["value"] == "independent-of-services"
    # White's reference 23 is in the quoted paraclinical list; reference 28 is in none
    row = got[("beta2015", "peer_role", "seeds/000_4a34b80370a3ffa2.txt:2060", "")]
    assert row["value"] == "paraclinical" and "[23," in row["as_printed"]
    row = got[("gamma2020", "peer_role", "seeds/000_4a34b80370a3ffa2.txt:2058-2075", "")]
    assert (row["value"], row["status"]) == ("", "not-classified") and "[28]" in row["notes"]
    assert got[("beta2015", "peer_capacity", "extractions/seeds_000_003/trials.csv:2", "")]["value"] == "substitute"
    row = got[("gamma2020", "peer_capacity", "extractions/seeds_000_003/trials.csv:3", "")]
    assert (row["value"], row["status"]) == ("", "disagreement")
    assert got[("alpha2010", "group_type", "extractions/seeds_000_003/trials.csv:4", "")]["value"] == "self-management"


def test_frozen_sizes_enter_only_as_printed(frozen):
    got = by_key(frozen / "data" / "study_characteristics.csv")
    assert got[("beta2015", "n_per_arm", "extractions/seeds_000_003/trials.csv:2", "not-stated")]["value"] == "30/30"
    row = got[("gamma2020", "n_per_arm", "extractions/seeds_000_003/trials.csv:3", "")]
    assert (row["value"], row["status"]) == ("", "ambiguous")
    assert got[("delta2021", "n_per_arm", "data.csv:2", "baseline")]["value"] == "45/44"
    # the analysed size is the Metapsy row with the most participants (41 + 39 on line 3)
    assert got[("delta2021", "n_per_arm", "data.csv:3", "analysed")]["value"] == "41/39"
    # no total is written that no source prints
    assert not [k for k in got if k[1] == "n_total" and got[k]["status"] == "reported"]


def test_frozen_reasons_for_what_no_source_gives(frozen):
    got = by_key(frozen / "data" / "study_characteristics.csv")
    # Alpha 2010 (group format) is not in White, and nobody gives its size
    assert "group peer support" in got[("alpha2010", "peer_role", "extractions/seeds_000_003/trials.csv", "")]["notes"]
    assert got[("alpha2010", "n_total", "data.csv", "")]["status"] == "not-reported"
    # Delta 2021 was published after Egmose's last search (June 2019)
    assert "after its last search" in got[("delta2021", "setting", "extractions/seed_001/trials.csv", "")]["notes"]
    # Gamma 2020 has no outcome data: no reason rows are made for it
    assert ("gamma2020", "setting", "extractions/seed_001/trials.csv", "") not in got


def test_frozen_estimate_trials(frozen):
    got = {(r["estimate_id"], r["study_id"]): r["basis"] for r in rows(frozen / "data" / "estimate_trials.csv")}
    assert got == {("egmose2023-r01", "alpha2010"): "cited", ("egmose2023-r01", "beta2015"): "cited",
                   ("white2020-w-t2-01", "beta2015"): "inferred", ("white2020-w-t2-01", "gamma2020"): "inferred",
                   # the umbrella review's row reaches White's through the cross-reference table
                   ("cooper2024-t2-26", "beta2015"): "inferred", ("cooper2024-t2-26", "gamma2020"): "inferred",
                   # "[53] or [56]" names alternatives, not members
                   ("lyons2021-l-01", "alpha2010"): "inferred"}


def test_frozen_findings(frozen):
    impl = {r["finding_id"]: r for r in rows(frozen / "data" / "implementation_findings.csv")}
    assert (impl["I01"]["cfir_domain"], impl["I01"]["role"], impl["I01"]["reviews"]) == (
        "inner-setting", "facilitator", "fortuna2020")
    assert impl["I02"]["role_basis"] == "inferred" and impl["I02"]["reviews"] == ""
    assert "99" in impl["I02"]["notes"]   # reference 99 is no included review
    exp = {r["finding_id"]: r for r in rows(frozen / "data" / "experience_findings.csv")}
    assert (exp["E01"]["perspective"], exp["E01"]["valence"]) == ("psws", "benefit")
    assert exp["E02"]["perspective"] == "mixed" and "32" in exp["E02"]["notes"]


def test_rows_entered_by_hand_are_kept(frozen):
    path = frozen / "data" / "study_characteristics.csv"
    hand = ("delta2021,n_total,90,reported,randomised,90 were randomised,https://example.org/report,abstract,"
            "search-001,found by a search\n")
    path.write_text(path.read_text(encoding="utf-8") + hand, encoding="utf-8")
    assert run_import(frozen / "extractions", frozen / "data") == 0
    kept = [r for r in rows(path) if r["source"] == "https://example.org/report"]
    assert [(r["study_id"], r["value"]) for r in kept] == [("delta2021", "90")]
    assert run_import(frozen / "extractions", frozen / "data") == 0
    assert path.read_text(encoding="utf-8").count("https://example.org/report") == 1


def test_unknown_cell_stops_the_import_with_its_location(tmp_path, capsys):
    target = tmp_path / "bad"
    shutil.copytree(FROZEN, target)
    path = target / "extractions" / "seed_001" / "trials.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("independent", "community"), encoding="utf-8")
    assert run_import(target / "extractions", target / "data") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: extractions/seed_001/trials.csv:3: column 'setting_category': unknown value 'community'")
    assert "Traceback" not in err


def test_a_label_that_is_not_the_linked_trial_stops_the_import(tmp_path, capsys):
    target = tmp_path / "bad"
    shutil.copytree(FROZEN, target)
    path = target / "extractions" / "seed_001" / "trials.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Beta 2015", "Beta 2016"), encoding="utf-8")
    assert run_import(target / "extractions", target / "data") == 1
    assert "extractions/seed_001/trials.csv:3: column 'trial_label': 'Beta 2016'" in capsys.readouterr().err


# --------------------------------------------------------------------------- real extractions


@pytest.fixture(scope="module")
def reimported(tmp_path_factory) -> Path:
    extractions = shared("extractions")
    target = tmp_path_factory.mktemp("reimport") / "data"
    shutil.copytree(DATA, target)
    # the import rewrites every row it makes; rows entered by hand (found by searches) are kept
    for name in WRITTEN[1:]:
        (target / name).unlink()
    assert run_import(extractions, target) == 0
    return target


def test_shipped_tables_are_what_the_import_writes(reimported):
    for name in WRITTEN:
        assert (reimported / name).read_bytes() == (DATA / name).read_bytes(), name


def test_every_extraction_value_is_in_its_source_row():
    root = shared("extractions").parent
    cache = {}
    for row in rows(DATA / "study_characteristics.csv"):
        m = re.fullmatch(r"(extractions/[^:]+):(\d+)", row["source_row"])
        if not m or not row["as_printed"]:
            continue
        if m.group(1) not in cache:
            cache[m.group(1)] = rows(root / m.group(1))
        record = cache[m.group(1)][int(m.group(2)) - 2]
        assert row["as_printed"] in record.values(), row


def test_every_quoted_classification_is_in_the_review_and_names_the_trial():
    root = shared("seeds").parent
    refs = {}
    for link in rows(DATA / "study_reviews.csv"):
        refs[(link["study_id"], link["review_id"])] = link["ref_in_review"].split(";")
    checked = 0
    for row in rows(DATA / "study_characteristics.csv"):
        m = re.fullmatch(r"(seeds/[^:]+):(\d+)(?:-(\d+))?", row["source_row"])
        if not m or row["status"] != "reported":
            continue
        lines = (root / m.group(1)).read_text(encoding="utf-8").splitlines()
        first, last = int(m.group(2)), int(m.group(3) or m.group(2))
        window = normalised(" ".join(lines[first - 1:last + 1]))
        assert normalised(row["as_printed"]) in window, row
        review = row["source"].removeprefix("seed:")
        assert any(re.search(rf"[\[ ,]{ref}[\],]", row["as_printed"]) for ref in refs[(row["study_id"], review)]), row
        checked += 1
    assert checked >= 8   # White's trials with a role family


def test_lyons_types_quote_the_review_and_name_the_trial():
    text = normalised(shared("seeds", "003_9bdd69326ff78c97.txt").read_text(encoding="utf-8"))
    refs = {link["study_id"]: link["ref_in_review"] for link in rows(DATA / "study_reviews.csv")
            if link["review_id"] == "lyons2021"}
    for row in rows(DATA / "study_characteristics.csv"):
        if row["characteristic"] != "group_type" or row["status"] != "reported":
            continue
        quote = re.search(r'"(.+)"', row["source_detail"]).group(1)
        assert normalised(quote) in text, row
        assert re.search(rf"\b{refs[row['study_id']]}\b", quote), row


def test_egmose_settings_follow_its_reference_ranges():
    # Results, line 96: hospital-added = refs 30-58 (and the unpublished Miller trial), established
    # roles 59-62, independent 63-79, online 80-87
    ranges = {"added-to-services": range(30, 59), "established-roles": range(59, 63),
              "independent-of-services": range(63, 80), "online": range(80, 88)}
    refs = {link["study_id"]: link["ref_in_review"] for link in rows(DATA / "study_reviews.csv")
            if link["review_id"] == "egmose2023"}
    for row in rows(DATA / "study_characteristics.csv"):
        if row["characteristic"] == "setting" and row["status"] == "reported":
            numbers = [int(n) for n in refs[row["study_id"]].split(";") if n]
            assert all(n in ranges[row["value"]] for n in numbers), row
            assert numbers or row["study_id"] == "miller2018", row


def test_metapsy_sizes_are_the_cells_of_their_row():
    with (DATA / "sources" / "metapsy-peer-support" / "data.csv").open(encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle, delimiter=";"))
    for row in rows(DATA / "study_characteristics.csv"):
        if row["source"].startswith("metapsy") and row["characteristic"] == "n_per_arm":
            record = source[int(row["source_row"].split(":")[1]) - 2]
            arm1, arm2 = ("baseline_n_arm1", "baseline_n_arm2") if row["basis"] == "baseline" else ("n_arm1", "n_arm2")
            assert row["value"] == f"{record[arm1]}/{record[arm2]}", row
            assert row["as_printed"] == f"{arm1} = {record[arm1]}; {arm2} = {record[arm2]}", row


def test_white_role_quotes_are_verbatim():
    text = shared("seeds", "000_4a34b80370a3ffa2.txt").read_text(encoding="utf-8").splitlines()
    for family, line, quote, numbers in WHITE_ROLE_FAMILIES:
        window = normalised(" ".join(text[int(line) - 1:int(line) + 2]))
        assert normalised(quote) in window, (family, line)
        assert all(f"{n}" in quote for n in numbers)


def test_match_reasons_cover_exactly_the_differing_labels():
    labels = {r["study_id"]: r["label"] for r in rows(DATA / "studies.csv")}
    differing = {(r["review_id"], r["study_id"]) for r in rows(DATA / "study_reviews.csv")
                 if r["review_id"] != "smit2022" and r["label_in_review"] != labels[r["study_id"]]}
    assert differing == set(MATCH_REASONS)


# --------------------------------------------------------------------------- shipped data


@pytest.fixture(scope="module")
def shipped():
    return dataset.load(DATA)


def test_shipped_data_has_no_characteristic_issue(shipped):
    assert not [i for i in shipped.issues if i.rule.startswith("characteristic-")]


def test_every_trial_with_data_has_size_setting_and_role_or_a_reason(shipped):
    table = shipped.characteristics
    studies = shipped.studies[shipped.studies["outcome_data"] == "extracted"]
    for _, study in studies.iterrows():
        needed = ["n_total", "setting", "peer_role"] + (["group_type"] if study["format"] == "group" else [])
        for name in needed:
            mine = table[(table["study_id"] == study["study_id"]) & (table["characteristic"] == name)]
            if name == "n_total":
                mine = table[(table["study_id"] == study["study_id"])
                             & table["characteristic"].isin(["n_total", "n_per_arm"])]
            resolved = study[name]
            has_reason = bool((mine["status"] != "reported").any() and mine["notes"].notna().all())
            assert not pd.isna(resolved) or has_reason, (study["study_id"], name)


def test_resolved_values_come_from_reported_rows(shipped):
    table = shipped.characteristics
    for _, study in shipped.studies.iterrows():
        for name in characteristics.CLASSIFICATIONS:
            value = study[name]
            if value is None:
                continue
            mine = table[(table["study_id"] == study["study_id"]) & (table["characteristic"] == name)]
            assert set(mine.loc[mine["status"] == "reported", "value"]) == {value}, (study["study_id"], name)


# --------------------------------------------------------------------------- rules


@pytest.fixture
def fixture_dir(tmp_path) -> Path:
    """The valid fixture dataset with a study_characteristics table (its schema from data/)."""
    target = tmp_path / "data"
    shutil.copytree(VALID, target)
    package = json.loads((target / "datapackage.json").read_text(encoding="utf-8"))
    shipped = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    package["resources"].append(next(r for r in shipped["resources"] if r["name"] == "study_characteristics"))
    (target / "datapackage.json").write_text(json.dumps(package, indent=2), encoding="utf-8")
    # the fixture's own hand-entered values would conflict with what the table resolves
    studies = (target / "studies.csv").read_text(encoding="utf-8")
    (target / "studies.csv").write_text(studies.replace(",added-to-services,peer worker,", ",,,"), encoding="utf-8")
    write_characteristics(target, [
        "alpha2010,setting,added-to-services,reported,,hospital-added,seed:egmose2023,x.csv:2,,",
        "alpha2010,n_per_arm,50/50,reported,baseline,baseline 50 and 50,metapsy,data.csv:2,,",
        "beta2015,n_per_arm,30/30,reported,not-stated,30/30,seed:white2020,y.csv:3,,",
        "beta2015,n_total,60,reported,not-stated,60,seed:white2020,y.csv:3,,",
        "gamma2020,setting,,not-classified,,,seed:egmose2023,x.csv,,not among its trials",
    ])
    return target


HEADER = "study_id,characteristic,value,status,basis,as_printed,source,source_row,source_detail,notes\n"


def write_characteristics(directory: Path, lines: list[str]) -> None:
    (directory / "study_characteristics.csv").write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")


def issues_of(directory: Path) -> list[tuple]:
    return [(i.rule, i.line, i.column, i.severity) for i in dataset.check(directory)
            if i.rule.startswith("characteristic-") or i.severity == "error"]


def test_valid_characteristics_pass(fixture_dir):
    assert [i for i in dataset.check(fixture_dir) if i.severity == "error"] == []


def test_resolved_view(fixture_dir):
    ds = dataset.load(fixture_dir)
    st = ds.studies.set_index("study_id")
    assert st.at["alpha2010", "setting"] == "added-to-services"
    # a stated total wins over the sum of the arms; the baseline sum is used where nothing else is
    assert (st.at["beta2015", "n_total"], st.at["beta2015", "n_basis"]) == (60, "not-stated")
    assert (st.at["alpha2010", "n_total"], st.at["alpha2010", "n_per_arm"]) == (100, "50/50")
    # gamma2020 keeps the value typed into studies.csv (no reported row describes its setting)
    assert st.at["gamma2020", "setting"] == "online"


@pytest.mark.parametrize("line, rule, column", [
    ("beta2015,setting,hospital,reported,,hospital,s,r:1,,", "characteristic-value", "value"),
    ("beta2015,n_per_arm,30-30,reported,analysed,30-30,s,r:1,,", "characteristic-value", "value"),
    ("beta2015,n_per_arm,31/30,reported,analysed,n_arm1 = 30; n_arm2 = 30,s,r:1,,", "characteristic-quote", "as_printed"),
    ("beta2015,n_per_arm,30/20,reported,not-stated,30/20,seed:white2020,y.csv:3,,", "characteristic-arms", "value"),
    ("beta2015,n_per_arm,30/30,reported,,30/30,s,r:1,,", "characteristic-basis", "basis"),
    ("beta2015,setting,online,reported,baseline,online,s,r:1,,", "characteristic-basis", "basis"),
    ("beta2015,setting,,reported,,,s,r:1,,", "characteristic-status", "value"),
    ("beta2015,setting,online,not-reported,,,s,r:1,,why", "characteristic-status", "value"),
    ("beta2015,setting,,not-reported,,,s,r:1,,", "characteristic-status", "notes"),
])
def test_rule(fixture_dir, line, rule, column):
    original = (fixture_dir / "study_characteristics.csv").read_text(encoding="utf-8")
    (fixture_dir / "study_characteristics.csv").write_text(original + line + "\n", encoding="utf-8")
    found = [(i.rule, i.line, i.column) for i in dataset.check(fixture_dir) if i.severity == "error"]
    assert (rule, 7, column) in found, found


def test_a_typed_value_that_contradicts_the_table_is_an_error(fixture_dir):
    studies = (fixture_dir / "studies.csv").read_text(encoding="utf-8")
    lines = studies.splitlines(keepends=True)
    lines[1] = lines[1].replace("smi,group,face-to-face,,,", "smi,group,face-to-face,online,,")
    (fixture_dir / "studies.csv").write_text("".join(lines), encoding="utf-8")
    found = [(i.rule, i.line, i.column) for i in dataset.check(fixture_dir) if i.severity == "error"]
    assert found == [("characteristic-conflict", 2, "setting")]


def test_a_trial_with_data_and_no_row_is_a_warning(fixture_dir):
    found = {(i.line, i.message.split("'")[1]) for i in dataset.check(fixture_dir)
             if i.rule == "characteristic-missing"}
    # alpha2010 (line 2, group format), beta2015 (line 3), gamma2020 (line 4); delta2021 has no data
    assert found == {(2, "peer_role"), (2, "group_type"), (3, "setting"), (3, "peer_role"),
                     (4, "n_total"), (4, "peer_role")}
