"""The engine as a tool: ``pool --model multilevel`` and the other verbs on CSV files.

Each command's JSON must equal the library called directly (whose numbers are checked against
metafor in test_metafor_fixtures.py and test_multilevel.py), and bad input must end in one
located line on stderr, never a traceback. The commands run in process (conftest.command:
``analysis.commands.main`` with the output captured), and as a subprocess in the tests marked so.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.stats import bias, meta, moderators, multilevel, sensitivity

from conftest import command as run_command

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "reference" / "fixtures"

# Konstantopoulos (2011): 56 schools in 11 districts (metafor dat.konstantopoulos2011), as
# stored in the multilevel fixture; the cluster is the district.
KONSTANTOPOULOS = json.loads((FIXTURES / "multilevel" / "konstantopoulos2011.json").read_text())["input"]

# Raudenbush (1985) teacher expectancy (metafor dat.raudenbush1985), as stored in its fixture.
RAUDENBUSH = json.loads((FIXTURES / "raudenbush1985.json").read_text())["input"]


def csv_text(columns: dict) -> str:
    names = list(columns)
    rows = zip(*(columns[n] for n in names))
    return "\n".join([",".join(names)] + [",".join(repr(v) if isinstance(v, float) else str(v) for v in row)
                                          for row in rows]) + "\n"


def run(tmp_path, command, content, *options, subprocess_run=False):
    path = tmp_path / "studies.csv"
    path.write_text(content, encoding="utf-8")
    return run_command(command, str(path), *options, subprocess_run=subprocess_run)


def run_json(tmp_path, command, content, *options):
    proc = run(tmp_path, command, content, *options, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def same(cli: dict, direct: dict):
    """The CLI's JSON equals the library's to_dict() (after the same JSON round trip)."""
    assert cli == json.loads(json.dumps(direct, allow_nan=False))


@pytest.fixture(scope="module")
def schools():
    return csv_text({"study": KONSTANTOPOULOS["study"], "cluster": KONSTANTOPOULOS["cluster"],
                     "yi": KONSTANTOPOULOS["yi"], "vi": KONSTANTOPOULOS["vi"]})


@pytest.fixture(scope="module")
def teachers():
    return csv_text({"study": RAUDENBUSH["study"], "yi": RAUDENBUSH["yi"], "vi": RAUDENBUSH["vi"],
                     "weeks": RAUDENBUSH["weeks"], "tester": RAUDENBUSH["tester"]})


def test_pool_multilevel_robust_json(tmp_path, schools):
    out = run_json(tmp_path, "pool", schools, "--measure", "GEN", "--model", "multilevel", "--robust")
    direct = multilevel.rma_multilevel(KONSTANTOPOULOS["yi"], KONSTANTOPOULOS["vi"], KONSTANTOPOULOS["cluster"],
                                       labels=KONSTANTOPOULOS["study"], robust=True)
    same(out, direct.to_dict())
    assert out["n_clusters"] == 11 and len(out["sigma2"]) == 2
    assert set(out["robust"]) >= {"estimate", "se", "ci_low", "ci_high", "df", "p"}
    # the pooling contract's keys that apply to the model
    assert {"k", "measure", "method", "ci_method", "estimate", "se", "statistic", "p", "ci_low", "ci_high",
            "q", "q_df", "q_p", "pi_low", "pi_high", "studies"} <= set(out)


def test_pool_multilevel_options(tmp_path, schools):
    out = run_json(tmp_path, "pool", schools, "--measure", "GEN", "--model", "multilevel", "--method", "ML",
                   "--ci", "t", "--rho", "0.6")
    direct = multilevel.rma_multilevel(KONSTANTOPOULOS["yi"], KONSTANTOPOULOS["vi"], KONSTANTOPOULOS["cluster"],
                                       labels=KONSTANTOPOULOS["study"], method="ML", test="t", rho=0.6)
    same(out, direct.to_dict())
    assert out["df"] == 55 and "robust" not in out
    text = run(tmp_path, "pool", schools, "--measure", "GEN", "--model", "multilevel", "--robust")
    assert text.returncode == 0 and "sigma^2 between trials" in text.stdout and "CR2" in text.stdout


def test_pool_multilevel_from_arm_data(tmp_path):
    # two comparisons of trial "a" share its control arm in the data; the model needs only the rows
    content = ("study,cluster,n1,mean1,sd1,n2,mean2,sd2\n"
               "a-1,a,30,12,4,31,10,4.5\na-2,a,29,11.5,4.2,31,10,4.5\nb-1,b,45,9,3.8,44,8.2,4.1\n"
               "c-1,c,60,14,5,58,12.5,5.2\nc-2,c,61,13,5.1,58,12.5,5.2\nd-1,d,25,10,4,27,10.4,4.4\n")
    out = run_json(tmp_path, "pool", content, "--measure", "SMD", "--model", "multilevel")
    assert out["k"] == 6 and out["n_clusters"] == 4 and out["measure"] == "SMD"


def test_univariate_pool_unchanged(tmp_path, teachers):
    out = run_json(tmp_path, "pool", teachers, "--measure", "GEN")
    assert set(out) == set(meta.JSON_KEYS)
    same(out, meta.rma(RAUDENBUSH["yi"], RAUDENBUSH["vi"], labels=RAUDENBUSH["study"]).to_dict())


def _fit():
    return meta.rma(RAUDENBUSH["yi"], RAUDENBUSH["vi"], labels=RAUDENBUSH["study"])


def _rows(frame):
    return json.loads(json.dumps(sensitivity_rows(frame), allow_nan=False))


def sensitivity_rows(frame):
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def test_subgroup_verb(tmp_path, teachers):
    out = run_json(tmp_path, "subgroup", teachers, "--measure", "GEN", "--by", "tester")
    same(out, moderators.subgroup(_fit(), RAUDENBUSH["tester"]).to_dict())
    common = run_json(tmp_path, "subgroup", teachers, "--measure", "GEN", "--by", "tester", "--tau2", "common")
    assert common["tau2_model"] == "common"


def test_metareg_verb(tmp_path, teachers):
    out = run_json(tmp_path, "metareg", teachers, "--measure", "GEN", "--mods", "~ weeks + factor(tester)")
    direct = moderators.metareg(RAUDENBUSH["yi"], RAUDENBUSH["vi"],
                                {"weeks": np.array(RAUDENBUSH["weeks"], float), "tester": RAUDENBUSH["tester"]},
                                labels=RAUDENBUSH["study"])
    same(out, direct.to_dict())
    assert [c["term"] for c in out["coefficients"]] == ["intercept", "weeks", "tester[blind]"]
    # a text column is categorical without factor(); "- 1" drops the intercept
    plain = run_json(tmp_path, "metareg", teachers, "--measure", "GEN", "--mods", "tester - 1")
    assert [c["term"] for c in plain["coefficients"]] == ["tester[aware]", "tester[blind]"]


@pytest.mark.parametrize("verb, options, direct", [
    ("leave1out", (), lambda res: sensitivity.leave_one_out(res)),
    ("influence", (), lambda res: sensitivity.influence(res)),
    ("cumul", ("--order", "weeks"), lambda res: sensitivity.cumulative(res, by=RAUDENBUSH["weeks"])),
])
def test_frame_verbs(tmp_path, teachers, verb, options, direct):
    out = run_json(tmp_path, verb, teachers, "--measure", "GEN", *options)
    assert out["analysis"] == verb and out["measure"] == "GEN"
    assert out["rows"] == _rows(direct(_fit()))


@pytest.mark.parametrize("verb, options, direct", [
    ("regtest", (), lambda res: bias.regtest(res)),
    ("regtest", ("--model", "lm", "--predictor", "vi"), lambda res: bias.regtest(res, model="lm", predictor="vi")),
    ("ranktest", (), lambda res: bias.ranktest(res)),
    ("trimfill", ("--estimator", "R0"), lambda res: bias.trimfill(res, estimator="R0")),
])
def test_small_study_verbs(tmp_path, teachers, verb, options, direct):
    out = run_json(tmp_path, verb, teachers, "--measure", "GEN", *options)
    same(out, direct(_fit()).to_dict())


def test_regtest_sample_size_predictor_from_arm_data(tmp_path):
    content = ("study,events1,total1,events2,total2\n1,4,123,11,139\n2,6,306,29,303\n3,3,231,11,220\n"
               "4,62,13598,248,12867\n5,33,5069,47,5808\n6,180,1541,372,1451\n")
    out = run_json(tmp_path, "regtest", content, "--measure", "RR", "--predictor", "ninv")
    assert out["predictor"] == "ninv" and out["k"] == 6
    mh = run_json(tmp_path, "regtest", content, "--measure", "OR", "--method", "MH", "--predictor", "sqrtni")
    assert mh["method"] == "FE" and mh["limit_estimate"] is None


BAD = [
    # (command, content, options, expected start of the message after "error: FILE: ")
    ("pool", "study,yi,vi\na,0.1,0.01\nb,0.2,0.02\n", ("--measure", "GEN", "--model", "multilevel"),
     "line 1, column cluster: value '': required column is missing (--model multilevel needs the trial"),
    ("pool", "study,cluster,yi,vi\na,x,0.1,0.01\nb,,0.2,0.02\nc,y,0.3,0.03\n",
     ("--measure", "GEN", "--model", "multilevel"), "line 3, column cluster: value '': missing value"),
    ("pool", "study,cluster,yi,vi\na,x,0.1,0.01\nb,y,0.2,0.02\n", ("--measure", "GEN", "--model", "multilevel"),
     "every cluster has a single comparison"),
    ("pool", "study,cluster,yi,vi\na,x,0.1,0.01\nb,x,0.2,0.02\n", ("--measure", "GEN", "--model", "multilevel"),
     "the multilevel model needs at least two clusters"),
    ("pool", "study,yi,vi\na,0.1,0.01\nb,0.2,0.02\n", ("--measure", "GEN", "--robust"),
     "--robust and --rho apply to --model multilevel"),
    ("pool", "study,yi,vi\na,0.1,0.01\nb,0.2,0.02\n", ("--measure", "GEN", "--ci", "t"),
     "--ci t applies to --model multilevel"),
    ("pool", "study,cluster,yi,vi\na,x,0.1,0.01\nb,x,0.2,0.02\nc,y,0.3,0.02\n",
     ("--measure", "GEN", "--model", "multilevel", "--ci", "hk"), "--ci hk does not apply to --model multilevel"),
    ("subgroup", "study,yi,vi\na,0.1,0.01\nb,0.2,0.02\n", ("--measure", "GEN", "--by", "format"),
     "line 1, column format: value '': required column is missing"),
    ("subgroup", "study,yi,vi,format\na,0.1,0.01,group\nb,0.2,0.02,\n", ("--measure", "GEN", "--by", "format"),
     "line 3, column format: value '': missing value"),
    ("metareg", "study,yi,vi,year\na,0.1,0.01,2001\nb,0.2,0.02,2003\nc,0.4,0.03,2005\n",
     ("--measure", "GEN", "--mods", "~ year + dose"), "line 1, column dose: value '': required column is missing"),
    ("metareg", "study,yi,vi,year\na,0.1,0.01,2001\nb,0.2,0.02,2003\nc,0.4,0.03,2005\n",
     ("--measure", "GEN", "--mods", "year:dose"), "--mods: cannot read the term 'year:dose'"),
    ("metareg", "study,yi,vi,year\na,0.1,0.01,2001\nb,0.2,0.02,\nc,0.4,0.03,2005\n",
     ("--measure", "GEN", "--mods", "year"), "line 3, column year: value '': missing value"),
    ("cumul", "study,yi,vi,year\na,0.1,0.01,2001\nb,0.2,0.02,early\n", ("--measure", "GEN", "--order", "year"),
     "line 3, column year: value 'early': not a number"),
    ("trimfill", "study,events1,total1,events2,total2\na,1,10,2,10\nb,2,10,3,10\n",
     ("--measure", "OR", "--method", "MH"), "trim-and-fill needs an inverse-variance fit"),
    ("ranktest", "study,yi,vi\na,0.1,0.01\nb,0.2,0.02\n", ("--measure", "GEN"),
     "the rank correlation test needs at least 3 studies"),
    ("regtest", "study,yi,vi\na,0.1,0.01\nb,0.2,0.02\nc,0.3,0.04\n", ("--measure", "GEN", "--predictor", "ni"),
     "predictor 'ni' needs the sample sizes"),
    ("metareg", "study,yi,vi\na,0.1,0.01\n", ("--measure", "GEN"), "the following arguments are required: --mods"),
]


@pytest.mark.parametrize("command, content, options, expected", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_one_located_line(tmp_path, command, content, options, expected):
    proc = run(tmp_path, command, content, *options)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    assert expected in proc.stderr, proc.stderr


@pytest.mark.parametrize("command, content, options, code", [
    ("pool", None, ("--measure", "GEN", "--model", "multilevel", "--robust", "--json"), 0),
    ("metareg", "study,yi,vi,year\na,0.1,0.01,2001\nb,0.2,0.02,2003\n", ("--measure", "GEN", "--mods", "year:x"), 2),
])
def test_as_a_subprocess(tmp_path, schools, command, content, options, code):
    proc = run(tmp_path, command, schools if content is None else content, *options, subprocess_run=True)
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert json.loads(proc.stdout)["model"] == "multilevel"
    else:
        assert proc.stdout == "" and proc.stderr.count("\n") == 1


def test_verb_help(tmp_path):
    proc = run_command("metareg", "--help", subprocess_run=True)
    assert proc.returncode == 0 and "--mods" in proc.stdout and "FILE.csv" in proc.stdout
