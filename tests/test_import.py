"""Tests of ``python -m analysis import-metapsy`` on the Metapsy peer-support database.

Reference values: the database itself (metapsy-project/data-peer-support-interventions, commit
6c0f322: 28 trials, 66 rows) and the umbrella review's Table 2/3 quoting Smit et al. (2022):
k = 22 clinical, 19 personal and 25 functional recovery rows.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from analysis.commands import import_metapsy
from analysis.dataset import metapsy

DATA = Path(__file__).resolve().parents[1] / "data"
#: The vendored, byte-identical snapshot of the Metapsy database (data/sources/.../LICENSE.md).
SOURCE_DIR = DATA / "sources" / "metapsy-peer-support"
TABLES = ["studies.csv", "outcomes.csv", "instruments.csv", "risk_of_bias.csv",
          "search_flow.json"]
# docs/DESIGN.md, "study_id of the 28 Metapsy trials (fixed)".
STUDY_IDS = """boevink2016 castelein2008 cook2012-wrap cook2012-bridges corrigan2017 corrigan2018
craig2004 davidson2004 dennis2003 dennis2009 gjerdingen2013 griffiths2012 johnson2018 kaplan2011
letourneau2011 ludman2007 mahlke2017 oconnell2018 pfeiffer2019 ranzenhofer2020 rivera2007
rogers2016 rusch2014 russinova2014 salzer2016 shorey2019 solomon1995 vangestel2012""".split()

def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def raw_rows() -> dict[str, dict]:
    """data.csv parsed independently of the importer, keyed by 'data.csv:<line>'."""
    with (SOURCE_DIR / "data.csv").open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle, delimiter=";"))
    return {f"data.csv:{line}": dict(zip(records[0], record))
            for line, record in enumerate(records[1:], start=2)}


def as_float(text: str) -> float:
    return float(text.replace(",", "."))


def run_import(out: Path, source: Path = SOURCE_DIR) -> int:
    return import_metapsy.main([str(source), "--out", str(out)])


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imported")
    assert run_import(out) == 0
    return out


def test_trials_rows_and_categories(imported):
    studies = read(imported / "studies.csv")
    outcomes = read(imported / "outcomes.csv")
    assert sorted(s["study_id"] for s in studies) == sorted(STUDY_IDS)
    assert len(outcomes) == 66
    assert Counter(o["category"] for o in outcomes) == {
        "clinical-recovery": 22, "personal-recovery": 19, "functional-recovery": 25}
    assert len({o["outcome_id"] for o in outcomes}) == 66
    assert {o["study_id"] for o in outcomes} == set(STUDY_IDS)


def test_mojibake_repaired(imported):
    studies = {s["study_id"]: s for s in read(imported / "studies.csv")}
    assert studies["rusch2014"]["label"] == "Rüsch 2014"
    assert studies["rusch2014"]["first_author"] == "Rüsch"
    instruments = {i["instrument"] for i in read(imported / "instruments.csv")}
    assert "GAF—Global Assessment of Functioning" in instruments
    assert "Lehman’s quality of life (QOL)" in instruments
    for name in TABLES:
        text = (imported / name).read_text(encoding="utf-8")
        assert "Ã" not in text and "â€" not in text, name


@pytest.mark.parametrize("text, expected", [
    ("RÃ¼sch", "Rüsch"), ("GAFâ€”Global", "GAF—Global"), ("Lehmanâ€™s", "Lehman’s"),
    ("Rüsch", "Rüsch"), ("plain ascii", "plain ascii"), ("GAF—Global", "GAF—Global"),
])
def test_repair_mojibake(text, expected):
    assert metapsy.repair_mojibake(text) == expected


def test_effect_se_and_recorded_values_come_from_g(imported):
    raw = raw_rows()
    for row in read(imported / "outcomes.csv"):
        source = raw[row["source_row"]]
        assert as_float(row["recorded_g"]) == as_float(source[".g"])
        assert as_float(row["recorded_g_se"]) == as_float(source[".g_se"])
        assert row["events1"] == row["total1"] == row["events2"] == row["total2"] == ""
        if row["data_type"] == "effect-se":
            assert (row["yi"], row["sei"]) == (row["recorded_g"], row["recorded_g_se"])
        else:
            assert row["data_type"] == "msd" and row["yi"] == row["sei"] == ""
            assert as_float(row["mean1"]) == as_float(source["mean_arm1"])
            assert as_float(row["sd2"]) == as_float(source["sd_arm2"])
            assert int(row["n1"]) == int(source["n_arm1"])


def test_rogers_rows_are_effect_se(imported):
    rogers = [o for o in read(imported / "outcomes.csv") if o["study_id"] == "rogers2016"]
    assert len(rogers) == 6
    assert all(o["data_type"] == "effect-se" for o in rogers)
    # data.csv:51 (BASIS-24 - high support): .g = 0,083, .g_se = 0,243
    basis_high = next(o for o in rogers if o["source_row"] == "data.csv:51")
    assert (basis_high["yi"], basis_high["sei"]) == ("0.083", "0.243")


def test_misaligned_columns_are_never_read(imported, tmp_path):
    """Scrambling precalc_*, event_*, totaln_* and dich must not change a single output byte."""
    source = tmp_path / "source"
    shutil.copytree(SOURCE_DIR / "metadata", source / "metadata")
    with (SOURCE_DIR / "data.csv").open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle, delimiter=";"))
    header = records[0]
    poisoned = [i for i, name in enumerate(header)
                if name.startswith(("precalc_", "event_", "totaln_")) or name == "dich"]
    assert len(poisoned) == 9
    for line, record in enumerate(records[1:], start=2):
        for i in poisoned:
            record[i] = f"{line}7,{i}"
    with (source / "data.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=";", quoting=csv.QUOTE_ALL,
                   lineterminator="\n").writerows(records)
    out = tmp_path / "out"
    assert run_import(out, source) == 0
    for name in TABLES:
        assert (out / name).read_bytes() == (imported / name).read_bytes(), name


def test_time_weeks_not_presented_as_weeks(imported):
    raw = raw_rows()
    for row in read(imported / "outcomes.csv"):
        assert row["time_weeks"] == "" and row["timepoint"] == "post"
        value = raw[row["source_row"]]["time_weeks"].replace(",", ".")
        assert f"Metapsy time_weeks = {value} " in row["notes"]


def test_shipped_data_are_the_importer_output(imported):
    """Every row the import of the vendored snapshot makes is in data/, unchanged; rows added by
    maintainers (other sources) are the rest. A rule, so that adding a trial never breaks it."""
    for name in TABLES:
        if name.endswith(".json"):
            assert json.loads((DATA / name).read_text()) == json.loads((imported / name).read_text()), name
            continue
        shipped = [r for r in read(DATA / name) if r["source"].startswith("metapsy")]
        assert shipped == read(imported / name), name


def test_rerun_is_byte_identical_and_keeps_rows_of_others(imported, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(imported, out)
    other = {c: "" for c in metapsy.STUDY_COLUMNS}
    other.update(study_id="newtrial2024", label="Newtrial 2024", first_author="Newtrial",
                 year="2024", design="individual-rct", arms="2", population="smi",
                 outcome_data="not yet extracted", citation_key="newtrial2024",
                 source="seed:white2020", source_row="trials.csv:3")
    with (out / "studies.csv").open("a", encoding="utf-8", newline="") as handle:
        csv.DictWriter(handle, metapsy.STUDY_COLUMNS, lineterminator="\n").writerow(other)
    assert run_import(out) == 0
    merged = (out / "studies.csv").read_bytes()
    assert read(out / "studies.csv") == sorted(read(imported / "studies.csv") + [other],
                                               key=lambda r: r["study_id"])
    assert run_import(out) == 0
    assert (out / "studies.csv").read_bytes() == merged
    for name in TABLES[1:]:
        assert (out / name).read_bytes() == (imported / name).read_bytes(), name


def hedges_g(n1, m1, s1, n2, m2, s2):
    """Hedges' g and SE as metapsyTools computes them (Borenstein et al. 2009, eqs 4.18-4.24):
    J = 1 - 3/(4 df - 1), df = n1 + n2 - 2; V(g) = J^2 ((n1+n2)/(n1 n2) + d^2 / (2 (n1+n2)))."""
    sp = math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / (n1 + n2 - 2))
    d = (m1 - m2) / sp
    j = 1 - 3 / (4 * (n1 + n2 - 2) - 1)
    return j * d, j * math.sqrt((n1 + n2) / (n1 * n2) + d ** 2 / (2 * (n1 + n2)))


def recomputed(imported) -> dict[str, tuple[float, float, float, float]]:
    """outcome_id -> (oriented g, SE, recorded g, recorded SE) for the msd rows."""
    direction = {i["instrument"]: i["higher_is_better"] == "true"
                 for i in read(imported / "instruments.csv")}
    result = {}
    for o in read(imported / "outcomes.csv"):
        if o["data_type"] != "msd":
            continue
        g, se = hedges_g(int(o["n1"]), float(o["mean1"]), float(o["sd1"]),
                         int(o["n2"]), float(o["mean2"]), float(o["sd2"]))
        sign = 1 if direction[o["instrument"]] else -1
        result[o["outcome_id"]] = (sign * g, se, float(o["recorded_g"]),
                                   float(o["recorded_g_se"]))
    return result


def test_instrument_directions_agree_with_recorded_g(imported):
    """Each direction decision is checked against the sign Metapsy gave .g (Davidson 2004 is
    the known exception: .g reversed for BPRS and GAF, see curation.csv)."""
    effects = recomputed(imported)
    disagree = {oid for oid, (g, _, recorded, _) in effects.items() if g * recorded < 0}
    assert disagree == {"davidson2004-bprs", "davidson2004-gaf"}


def test_every_difference_from_recorded_g_is_curated(imported):
    """Rows whose .g the arm columns do not reproduce (to 1e-9) carry a curation entry."""
    curated = {(c["outcome_id"], c["field"]) for c in read(DATA / "curation.csv")}
    differing = {oid for oid, (g, se, rg, rse) in recomputed(imported).items()
                 if abs(g - rg) > 1e-9 or abs(se - rse) > 1e-9}
    salzer = {"salzer2016-ras", "salzer2016-lehman-qol"}
    assert differing == {"boevink2016-cape", "davidson2004-bprs", "davidson2004-gaf",
                         "kaplan2011-lehman-qol", "kaplan2011-ras", "solomon1995-lehman-qol"}
    assert all((oid, "recorded_g") in curated for oid in differing)
    assert all((oid, f"sd{arm}") in curated for oid in salzer for arm in "12")


def test_salzer_sd_curation_is_se_times_sqrt_n():
    outcomes = {o["outcome_id"]: o for o in read(DATA / "outcomes.csv")}
    sets = [c for c in read(DATA / "curation.csv") if c["action"] == "set" and c["field"] in ("sd1", "sd2")]
    assert {(c["outcome_id"], c["field"]) for c in sets} == {
        (oid, f"sd{arm}") for oid in ("salzer2016-ras", "salzer2016-lehman-qol") for arm in "12"}
    for c in sets:
        row = outcomes[c["outcome_id"]]
        assert c["old_value"] == row[c["field"]]
        n = int(row["n" + c["field"][-1]])
        assert float(c["new_value"]) == float(c["old_value"]) * math.sqrt(n)
    # RAS 1.49 * sqrt(50) = 10.5359 (a plausible RAS total SD)
    ras = next(c for c in sets if c["curation_id"] == "salzer2016-ras-sd1")
    assert round(float(ras["new_value"]), 4) == 10.5359


def test_curation_refers_to_existing_rows_and_flags_known_defects():
    outcome_ids = {o["outcome_id"] for o in read(DATA / "outcomes.csv")}
    curation = read(DATA / "curation.csv")
    assert len({c["curation_id"] for c in curation}) == len(curation)
    assert {c["outcome_id"] for c in curation} - {""} <= outcome_ids
    assert {c["study_id"] for c in curation if c["field"] == "time_weeks"} == set(STUDY_IDS)
    ids = {c["curation_id"] for c in curation}
    assert {"rogers2016-subgroups", "cook2012-wrap-label", "cook2012-bridges-label"} <= ids


def test_risk_of_bias_per_study_and_differing_outcomes(imported):
    rob = read(imported / "risk_of_bias.csv")
    assert sorted(r["study_id"] for r in rob if r["outcome_id"] == "") == sorted(STUDY_IDS)
    # data.csv:30 and :39 rate D4 "Low risk"; the other rows of those trials "Some concerns".
    overrides = {(r["outcome_id"], r["d4"]) for r in rob if r["outcome_id"]}
    assert overrides == {("johnson2018-bprs", "low"), ("mahlke2017-cgi", "low")}


def test_search_flow_counts(imported):
    flow = json.loads((imported / "search_flow.json").read_text(encoding="utf-8"))
    # metadata/search_flow.json: 3901 + 8 records, 3455 after duplicates, 133 full texts, 28 in.
    assert flow["duplicates_removed"] == 3901 + 8 - 3455
    assert flow["records_excluded"] == 3455 - 133
    assert flow["reports_excluded"] == 133 - 28 == sum(flow["reports_excluded_reasons"].values())
    assert flow["studies_included"] == 28 and flow["last_search"] == "2020-12-18"


def test_domains_cover_every_subdomain_with_three_trials():
    outcomes = read(DATA / "outcomes.csv")
    trials = Counter()
    for subdomain, study in {(o["subdomain"], o["study_id"]) for o in outcomes}:
        trials[subdomain] += 1
    domains = yaml.safe_load((DATA / "domains.yml").read_text(encoding="utf-8"))
    by_subdomain = {s for d in domains if "subdomain" in d["select"] for s in d["select"]["subdomain"]}
    # every sub-domain with at least three Metapsy trials has a chapter (maintainers may add more)
    assert {s for s, k in trials.items() if k >= 3} <= by_subdomain
    categories = [c for d in domains if "category" in d["select"] for c in d["select"]["category"]]
    assert {"personal-recovery", "clinical-recovery", "functional-recovery"} <= set(categories)
    assert all(d["title"] and d["description"] for d in domains)


def test_datapackage_describes_every_table():
    package = json.loads((DATA / "datapackage.json").read_text(encoding="utf-8"))
    # the version is the last release's (python -m analysis release writes both)
    assert package["version"] == json.loads((DATA / "release.json").read_text(encoding="utf-8"))["version"]
    assert any("10.5281/zenodo.7687898" in lic["citation"] for lic in package["licenses"])
    resources = {r["name"]: r for r in package["resources"]}
    expected = {"studies": metapsy.STUDY_COLUMNS, "outcomes": metapsy.OUTCOME_COLUMNS,
                "instruments": metapsy.INSTRUMENT_COLUMNS, "risk_of_bias": metapsy.ROB_COLUMNS}
    for name, columns in expected.items():
        assert [f["name"] for f in resources[name]["schema"]["fields"]] == columns
    for name, resource in resources.items():
        if resource["profile"] != "tabular-data-resource":
            continue
        path = DATA / resource["path"]
        if path.exists():
            with path.open(encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle))
            assert header == [f["name"] for f in resource["schema"]["fields"]], name
    fks = {(r, fk["fields"], fk["reference"]["resource"]) for r, res in resources.items()
           for fk in res.get("schema", {}).get("foreignKeys", [])}
    assert {("outcomes", "study_id", "studies"), ("outcomes", "instrument", "instruments"),
            ("risk_of_bias", "outcome_id", "outcomes"), ("curation", "study_id", "studies"),
            ("study_reviews", "study_id", "studies")} <= fks


@pytest.mark.parametrize("line, column, value, message", [
    (5, ".g", "abc", "error: data.csv:5: column '.g': 'abc' is not a number"),
    (7, "outcome_subcategory", "Mood", "error: data.csv:7: column 'outcome_subcategory': "
                                       "unknown value 'Mood'"),
    (3, "n_arm1", "12,5", "error: data.csv:3: column 'n_arm1': '12,5' is not a count"),
])
def test_bad_input_gives_one_line_error(tmp_path, capsys, line, column, value, message):
    source = tmp_path / "source"
    shutil.copytree(SOURCE_DIR / "metadata", source / "metadata")
    with (SOURCE_DIR / "data.csv").open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle, delimiter=";"))
    records[line - 1][records[0].index(column)] = value
    with (source / "data.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=";", lineterminator="\n").writerows(records)
    assert run_import(tmp_path / "out", source) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_missing_directory_is_reported(tmp_path, capsys):
    assert run_import(tmp_path / "out", tmp_path / "nowhere") == 1
    err = capsys.readouterr().err
    assert "nowhere/data.csv: cannot read" in err and "Traceback" not in err
