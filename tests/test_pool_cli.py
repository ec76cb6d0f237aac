"""``python -m analysis pool`` on small CSV files, good and bad: in process (conftest.command), and
as a real subprocess in the tests that say so (one of each kind: results, a located error, a usage
error, an undecodable file)."""
import json

import numpy as np
import pytest

from analysis.stats.effects import escalc
from analysis.stats.meta import JSON_KEYS, rma

from conftest import command
from datasets import (
    BCG,
    NORMAND1999,
    NORMAND1999_TABLE3,
    PRINTED_DECIMALS,
    PUBLISHED_REL,
    bcg_arms,
    csv_text,
    normand1999_arms,
)

# The published data sets of tests/datasets.py as the CSV files the command reads.
# Colditz et al. (1994) BCG trials; tests/reference/REFERENCE-VALUES.md R1.
BCG_CSV = csv_text({"study": BCG.labels, **bcg_arms()})
# Normand (1999) Table I; tests/reference/REFERENCE-VALUES.md R2.
NORMAND_CSV = csv_text({"study": NORMAND1999.labels, **normand1999_arms()})
# Normand (1999) Table III, risk differences in percentage points, written with the 4 decimals
# they are printed with; tests/reference/REFERENCE-VALUES.md R5.
NORMAND_RD_CSV = csv_text({"study": NORMAND1999_TABLE3.labels, "yi": NORMAND1999_TABLE3.yi,
                           "vi": NORMAND1999_TABLE3.vi}, decimals=PRINTED_DECIMALS)


def run(tmp_path, content, *options, name="studies.csv", raw=None, subprocess_run=False):
    path = tmp_path / name
    if raw is not None:
        path.write_bytes(raw)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    return command("pool", str(path), *options, subprocess_run=subprocess_run)


def run_json(tmp_path, content, *options, subprocess_run=False):
    proc = run(tmp_path, content, *options, "--json", subprocess_run=subprocess_run)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


#: Run in process, and once more as the command a user types (a real Python process).
BOTH = pytest.mark.parametrize("subprocess_run", [False, True], ids=["in-process", "subprocess"])


# --- good input ------------------------------------------------------------------------------

@BOTH
def test_colditz1994_bcg_dersimonian_laird_json(tmp_path, subprocess_run):
    # tests/reference/REFERENCE-VALUES.md R1: DL -0.7141 [-1.0644, -0.3638], tau2 = 0.3088, I2 = 92.1173,
    # z = -3.9952; Q-profile tau2 CI [0.1197, 1.1115]
    out = run_json(tmp_path, BCG_CSV, "--measure", "RR", "--method", "DL", subprocess_run=subprocess_run)
    assert set(out) == set(JSON_KEYS) | {"exp"}
    got = [out[key] for key in ("estimate", "ci_low", "ci_high", "tau2", "i2_q", "statistic",
                                "tau2_ci_low", "tau2_ci_high")]
    assert np.round(got, PRINTED_DECIMALS).tolist() == [-0.7141, -1.0644, -0.3638, 0.3088, 92.1173, -3.9952,
                                         0.1197, 1.1115]
    assert out["exp"]["estimate"] == pytest.approx(np.exp(out["estimate"]), rel=1e-12)
    assert [s["study"] for s in out["studies"]] == [str(i) for i in range(1, 14)]
    assert sum(s["weight"] for s in out["studies"]) == pytest.approx(100.0)


@pytest.mark.parametrize("measure, method, expected", [
    # tests/reference/REFERENCE-VALUES.md R1: Mantel-Haenszel RR and OR, Peto OR
    ("RR", "MH", [-0.4537, -0.5308, -0.3766]),
    ("OR", "MH", [-0.4734, -0.5538, -0.3930]),
    ("OR", "PETO", [-0.4744, -0.5541, -0.3948]),
])
def test_colditz1994_bcg_table_methods(tmp_path, measure, method, expected):
    out = run_json(tmp_path, BCG_CSV, "--measure", measure, "--method", method)
    assert np.round([out["estimate"], out["ci_low"], out["ci_high"]], PRINTED_DECIMALS).tolist() \
        == expected


def test_normand1999_stroke_mean_difference_pooled_sd(tmp_path):
    # tests/reference/REFERENCE-VALUES.md R2: MD with a pooled SD: fixed -3.4939 [-5.0265, -1.9613];
    # DL -14.0972 [-24.4454, -3.7490], tau2 218.7216
    fixed = run_json(tmp_path, NORMAND_CSV, "--measure", "MD", "--method", "FE", "--vtype", "HO")
    assert np.round([fixed["estimate"], fixed["ci_low"], fixed["ci_high"]], PRINTED_DECIMALS).tolist() == \
        [-3.4939, -5.0265, -1.9613]
    dl = run_json(tmp_path, NORMAND_CSV, "--measure", "MD", "--method", "DL", "--vtype", "HO")
    assert np.round([dl["estimate"], dl["ci_low"], dl["ci_high"], dl["tau2"]], PRINTED_DECIMALS).tolist() == \
        [-14.0972, -24.4454, -3.7490, 218.7216]


def test_normand1999_revman5_preset_sets_vtype_and_pooling_and_options_override_it(tmp_path):
    # revman5 preset: DL, z CI, PI with t(k-2), RevMan 5 SMD variance
    # (tests/reference/REFERENCE-VALUES.md R2 gives the first four: 0.0131, 0.0645, 0.0463, 0.1667)
    out = run_json(tmp_path, NORMAND_CSV, "--measure", "SMD", "--preset", "revman5")
    assert out["method"] == "DL" and out["ci_method"] == "z"
    assert np.round([s["vi"] for s in out["studies"][:4]], PRINTED_DECIMALS).tolist() == \
        [0.0131, 0.0645, 0.0463, 0.1667]
    override = run_json(tmp_path, NORMAND_CSV, "--measure", "SMD", "--preset", "revman5",
                        "--method", "REML", "--ci", "hk")
    assert override["method"] == "REML" and override["ci_method"] == "hk"
    # the CLI equals the library called directly
    table = np.genfromtxt(NORMAND_CSV.splitlines(), delimiter=",", names=True, dtype=None,
                          encoding="utf-8")
    es = escalc("SMD", vtype="revman5", labels=list(table["study"]),
                **{c: table[c] for c in ("n1", "mean1", "sd1", "n2", "mean2", "sd2")})
    direct = rma(es.yi, es.vi, labels=es.labels, measure="SMD", preset="revman5",
                 method="REML", ci="hk").to_dict()
    assert override == json.loads(json.dumps(direct))


def test_normand1999_table3_precomputed_effects_boundary_tau2_zero(tmp_path):
    # tests/reference/REFERENCE-VALUES.md R5: fixed = DL = REML = 2.9444 [0.3831, 5.5058], tau2 = 0. metafor
    # computed these from unrounded yi/vi; from the 4-decimal inputs the upper limit is
    # 5.505748, so compare with the relative tolerance of 1e-4 the reference prescribes.
    for method in ("FE", "DL", "REML"):
        out = run_json(tmp_path, NORMAND_RD_CSV, "--measure", "GEN", "--method", method)
        np.testing.assert_allclose([out["estimate"], out["ci_low"], out["ci_high"]],
                                   [2.9444, 0.3831, 5.5058], rtol=PUBLISHED_REL)
        assert out["tau2"] == 0


def test_ratio_with_confidence_interval_and_sei(tmp_path):
    # RR 0.80 (0.64 to 1.00) and RR 0.5 (0.25 to 1.00): logs taken before the SE (Cochrane
    # Handbook v6, 6.3.2); the same studies as log RR with SEs give the same fit.
    ci = "study,yi,ci_low,ci_high\na,0.80,0.64,1.00\nb,0.5,0.25,1.0\n"
    yi = np.log([0.8, 0.5]).tolist()
    se = (np.log([1.0 / 0.64, 4.0]) / (2 * 1.959963984540054)).tolist()
    sei = f"study,yi,sei\na,{yi[0]!r},{se[0]!r}\nb,{yi[1]!r},{se[1]!r}\n"
    from_ci = run_json(tmp_path, ci, "--measure", "RR", "--method", "FE")
    from_sei = run_json(tmp_path, sei, "--measure", "RR", "--method", "FE")
    assert from_ci["estimate"] == pytest.approx(from_sei["estimate"], rel=1e-12)
    assert from_ci["se"] == pytest.approx(from_sei["se"], rel=1e-12)


def test_summary_output_and_double_zero_note(tmp_path):
    content = BCG_CSV + "14,0,40,0,38\n"
    proc = run(tmp_path, content, "--measure", "RR", "--method", "REML")
    assert proc.returncode == 0
    assert "k = 13" in proc.stdout
    assert proc.stderr.strip() == ("note: study '14' excluded: no events in either arm: "
                                   "RR not estimable")


def test_blank_lines_and_extra_columns_are_ignored(tmp_path):
    content = "study,n1,mean1,sd1,n2,mean2,sd2,notes\n\na,20,5,2,20,4,2,x\n\nb,30,6,2,30,5,3,\n"
    out = run_json(tmp_path, content, "--measure", "SMD", "--method", "FE")
    assert out["k"] == 2


# --- bad input: one line on stderr, exit code 2, located in the file ---------------------------

BAD = [
    # (name, content, options, expected substring incl. line and column)
    ("non-numeric", NORMAND_CSV.replace("31,27,7", "31,27a,7"), ("--measure", "SMD"),
     "line 3, column mean1: value '27a': not a number"),
    ("decimal comma", 'study,yi,sei\na,"0,5",0.1\n', ("--measure", "GEN"),
     "line 2, column yi: value '0,5': not a number"),
    ("missing column", NORMAND_CSV.replace(",sd2", ",sd_2"), ("--measure", "MD"),
     "line 1, column sd2: value '': required column is missing"),
    ("missing value", NORMAND_CSV.replace("75,64,17", "75,,17"), ("--measure", "SMD"),
     "line 4, column mean1: value '': missing value"),
    ("n below 2", NORMAND_CSV.replace("8,14,8", "1,14,8"), ("--measure", "SMD"),
     "line 6, column n1: value '1': sample size must be at least 2"),
    ("zero sd", NORMAND_CSV.replace("52,23,20", "52,23,0"), ("--measure", "MD"),
     "line 10, column sd2: value '0': standard deviation must be > 0"),
    ("events exceed total", BCG_CSV.replace("3,231,11,220", "3,231,221,220"), ("--measure", "OR"),
     "line 4, column events2: value '221': events must not exceed total"),
    ("wrong measure", BCG_CSV, ("--measure", "SMD"),
     "line 1, column n1: value '': required column is missing"),
    ("ragged row", NORMAND_CSV.replace("Newcastle,34,52,45,33,41,34", "Newcastle,34,52,45,33"),
     ("--measure", "SMD"), "line 8, column mean2: value '': row has 5 cells but the header has 7"),
    ("header only", "study,yi,vi\n", ("--measure", "GEN"),
     "line 2, column study: value '': no data rows"),
    ("empty file", "", ("--measure", "GEN"), "line 1, column 1: value '': the file is empty"),
    ("no study column", "name,yi,vi\na,1,1\n", ("--measure", "GEN"),
     "line 1, column study: value '': required column is missing"),
    ("empty label", "study,yi,vi\na,1,1\n ,2,1\n", ("--measure", "GEN"),
     "line 3, column study: value ' ': study label is missing"),
    ("not finite", "study,yi,vi\na,1,1\nb,inf,1\n", ("--measure", "GEN"),
     "line 3, column yi: value 'inf': not a finite number"),
    ("blank lines keep physical numbers", "study,yi,sei\n\na,1,0.2\n\n\nb,2,-0.2\n",
     ("--measure", "GEN"), "line 6, column sei: value '-0.2': standard error must be > 0"),
    ("duplicate column", "study,yi,yi\na,1,1\n", ("--measure", "GEN"),
     "line 1, column yi: value 'yi': duplicate column name"),
    ("negative variance", "study,yi,vi\na,1,1\nb,2,-1\n", ("--measure", "GEN"),
     "line 3, column vi: value '-1': sampling variance must be > 0"),
    ("ratio CI not positive", "study,yi,ci_low,ci_high\na,0.8,0,1.2\n", ("--measure", "OR"),
     "line 2, column ci_low: value '0': a ratio must be > 0"),
]


@pytest.mark.parametrize("name, content, options, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_located_line(tmp_path, name, content, options, expected):
    proc = run(tmp_path, content, *options)
    _one_located_line(proc, tmp_path, expected)


def test_bad_input_is_one_located_line_in_a_subprocess(tmp_path):
    name, content, options, expected = BAD[0]
    _one_located_line(run(tmp_path, content, *options, subprocess_run=True), tmp_path, expected)


def _one_located_line(proc, tmp_path, expected):
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {tmp_path / 'studies.csv'}: {expected}"), proc.stderr


@pytest.mark.parametrize("content, options, expected", [
    (None, ("--measure", "GEN"), "file not found"),
    (BCG_CSV, ("--measure", "RR", "--method", "PETO"), "--method PETO needs --measure OR"),
    (NORMAND_CSV, ("--measure", "SMD", "--method", "MH"), "--method MH needs --measure OR or RR or RD"),
    (BCG_CSV, ("--measure", "OR", "--method", "MH", "--ci", "hk"), "do not apply to --method MH"),
    (BCG_CSV, ("--measure", "OR", "--vtype", "HO"), "--vtype applies to SMD and MD"),
    (NORMAND_CSV, ("--measure", "SMD", "--vtype", "HO"), "vtype for SMD must be one of"),
    ("study,events1,total1,events2,total2\na,0,10,0,10\n", ("--measure", "OR"),
     "no study left to pool"),
    (NORMAND_CSV, ("--measure", "SMD", "--level", "100"), "--level must lie strictly between"),
])
def test_bad_options_and_files(tmp_path, content, options, expected):
    proc = run(tmp_path, content, *options)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr


@BOTH
def test_not_utf8(tmp_path, subprocess_run):
    raw = "study,yi,vi\nK\xf6ln,1,1\n".encode("latin-1")
    proc = run(tmp_path, None, "--measure", "GEN", raw=raw, subprocess_run=subprocess_run)
    assert proc.returncode == 2 and proc.stderr.strip().endswith("not UTF-8 text")


@BOTH
def test_usage_errors(tmp_path, subprocess_run):
    for options in (("--measure", "HR"), ("--method", "REML"), ("--measure", "SMD", "--bogus")):
        proc = run(tmp_path, NORMAND_CSV, *options, subprocess_run=subprocess_run)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
