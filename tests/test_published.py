"""Published pooled estimates (data/published_estimates.csv) against the seed reviews they cite.

Every number in the file must be printed in the seed file named in ``source`` (Egmose et al.
2023, White et al. 2020, Lyons et al. 2021 and the umbrella review of Cooper et al. 2024, seeds
000-004), so that nothing in the table is re-typed, rounded or derived without saying so.
"""
import csv
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from conftest import shared

DATA = Path(__file__).resolve().parents[1] / "data"
SEED_REVIEWS = {"white2020", "lyons2021", "egmose2023", "cooper2024", "smit2022"}
DOMAINS = {"personal-recovery", "clinical-recovery", "functional-recovery", "self-rated-recovery",
           "empowerment-self-efficacy", "quality-of-life", "depression", "global-symptoms",
           "loneliness-social-support", "functioning"}
# docs/DESIGN.md columns, then the printed 95% CI of I2 (Smit et al. 2022 rows of the umbrella review)
HEADER = ["estimate_id", "review_id", "reported_in", "outcome", "domain", "timepoint", "subgroup", "k", "n",
          "measure", "estimate", "ci_low", "ci_high", "i2", "q", "q_df", "p", "tau2", "source", "verbatim",
          "inconsistency", "inconsistency_note", "i2_ci_low", "i2_ci_high", "favours", "favours_basis",
          "favours_source"]
WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}


def rows(name):
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def normalise(text):
    """Collapse whitespace; write every minus sign (U+2212, '- 0.2', an en-dash not between digits) as '-'."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).replace("\u2212", "-")
    text = re.sub(r"(?<![\d.])- (?=\d)", "-", text)
    return re.sub(r"(?<![\d.])\u2013(?=\d)", "-", text)


def printed(value, text):
    """True when the number appears as a whole token (same sign, same decimals) in text."""
    lead = r"(?<![\d.])" if value.startswith("-") else r"(?<![-\d.])"
    return re.search(lead + re.escape(value) + r"(?!\d)", text) is not None


PUB = rows("published_estimates.csv")


def test_header_and_ids():
    with open(DATA / "published_estimates.csv", encoding="utf-8") as f:
        assert f.readline().strip().split(",") == HEADER
    ids = [r["estimate_id"] for r in PUB]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids)


def test_review_ids_resolve():
    known = {r["review_id"] for r in rows("reviews.csv")} | SEED_REVIEWS
    for r in PUB:
        assert r["review_id"] in known, (r["estimate_id"], r["review_id"])
        assert r["reported_in"] in SEED_REVIEWS - {"smit2022"}, r["estimate_id"]
        # a review quoted by the umbrella review is reported in it; a seed review reports itself
        assert r["reported_in"] == "cooper2024" or r["reported_in"] == r["review_id"]


@pytest.mark.parametrize("r", PUB, ids=[r["estimate_id"] for r in PUB])
def test_controlled_values(r):
    assert r["timepoint"] in {"post", "follow-up", "mixed", "not-stated"}
    assert r["domain"] == "" or r["domain"] in DOMAINS
    assert r["inconsistency"] in {"true", "false"}
    if r["inconsistency"] == "true":
        assert r["inconsistency_note"].strip()
    for col in ("k", "n", "q_df"):
        assert r[col] == "" or r[col].isdigit(), (col, r[col])


@pytest.mark.parametrize("r", [r for r in PUB if r["estimate"]], ids=[r["estimate_id"] for r in PUB if r["estimate"]])
def test_estimate_inside_ci_unless_flagged(r):
    lo, est, hi = float(r["ci_low"]), float(r["estimate"]), float(r["ci_high"])
    if r["inconsistency"] == "false":
        assert lo <= est <= hi


def seed_text(source):
    name = re.match(r"seeds/(\S+\.txt)", source).group(1)
    return normalise((shared("seeds") / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("r", PUB, ids=[r["estimate_id"] for r in PUB])
def test_numbers_printed_in_seed(r):
    text = seed_text(r["source"])
    verbatim = normalise(r["verbatim"])
    if verbatim.startswith("[table row reconstructed"):
        # table cells scattered by the PDF dump: every cell must be printed
        cells = re.sub(r"\s*\[[^\]]*\]", "", verbatim.split("] ", 1)[1]).split(" | ")
        assert all(c.strip() in text for c in cells), cells
    else:
        assert verbatim in text
    for col in ("estimate", "ci_low", "ci_high", "i2", "q", "q_df", "tau2", "p", "i2_ci_low", "i2_ci_high"):
        if r[col]:
            value = r[col].lstrip("<>")  # p and tau2 keep a printed inequality ('<0.001')
            assert printed(value, verbatim) and printed(value, text), (col, r[col])
    if r["k"]:
        stated = [int(m) for m in re.findall(r"(\d+) ?trials", verbatim)] + \
                 [WORDS[m.lower()] for m in re.findall(r"\b(" + "|".join(WORDS) + r") ?trials", verbatim, re.I)]
        # k printed as a number, or as the sum of the trial counts the text gives (Egmose 2023)
        assert printed(r["k"], verbatim) or int(r["k"]) == sum(stated), (r["k"], stated)


def test_smit_reproduction_target_present():
    # Cooper et al. 2024, Tables 2-3 (seed 002 lines 265, 328, 337): Smit et al. 2022 post-intervention
    smit = {r["domain"]: r for r in PUB if r["review_id"] == "smit2022" and r["timepoint"] == "post"}
    assert set(smit) == {"clinical-recovery", "personal-recovery", "functional-recovery"}
    text = seed_text(smit["clinical-recovery"]["source"])
    for r in smit.values():
        line = r["verbatim"]
        assert normalise(line) in text and line.startswith("Smit et al. (2022) [52]")
        assert f"{r['k']} (NR)" in line


# -- orientation: which printed sign favours peer support, with its basis and evidence ----------

@pytest.mark.parametrize("r", [r for r in PUB if r["estimate"]], ids=[r["estimate_id"] for r in PUB if r["estimate"]])
def test_every_printed_estimate_has_a_direction_with_basis_and_evidence(r):
    assert r["favours"] in {"higher", "lower", "unclear"}
    assert r["favours_basis"] in {"stated", "reported-direction", "review-convention", "scale"}
    assert r["favours_source"].strip()
    if r["favours_basis"] in {"stated", "reported-direction"}:
        # a stated convention or a described direction is quoted from the source
        assert re.search(r'"[^"]+"', r["favours_source"]), r["favours_source"]


def _all_seeds():
    """The seed reviews' texts and the vendored Metapsy description (where Smit et al.'s convention is stated)."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(shared("seeds").glob("*.txt"))]
    texts.append((DATA / "sources" / "metapsy-peer-support" / "SOURCE.md").read_text(encoding="utf-8"))
    return normalise(" ".join(texts))


@pytest.mark.parametrize("r", [r for r in PUB if '"' in r["favours_source"]],
                         ids=[r["estimate_id"] for r in PUB if '"' in r["favours_source"]])
def test_direction_quotes_are_verbatim_in_the_sources(r):
    text = _all_seeds()
    for quote in re.findall(r'"([^"]+)"', r["favours_source"]):
        assert normalise(quote) in text, quote


def test_a_described_direction_agrees_with_the_printed_sign():
    # "reduction"/"decrease" of a symptom goes with a value below no effect; "improvement" or a
    # "positive effect" with the side the row says favours peer support
    for r in PUB:
        if r["favours_basis"] != "reported-direction" or not r["estimate"] or r["favours"] == "unclear":
            continue
        null = 1.0 if r["measure"] in ("RR", "OR") else 0.0
        above = float(r["estimate"]) > null
        words = r["favours_source"].lower()
        if "significant reduction" in words or "significant decrease" in words or "describes the result as a reduction" in words:
            assert r["favours"] == "lower" and not above, r["estimate_id"]
        elif "significant improvement" in words or "positive effect" in words:
            assert r["favours"] == ("higher" if above else "lower"), r["estimate_id"]


# -- oriented estimates (analysis.chapter.published): positive favours peer support ------------

def test_oriented_estimates_turn_what_favours_lower_and_keep_the_print():
    from analysis import dataset
    from analysis.chapter.published import COLUMNS, oriented_estimates

    ds = dataset.load(DATA)
    est = oriented_estimates(ds)
    assert tuple(est.columns) == COLUMNS
    printed = [r for r in PUB if r["estimate"]]
    assert len(est) == len(printed)                     # every estimate with a number, no empty row
    by_id = {r["estimate_id"]: r for r in printed}
    labels = {r["review_id"]: r["label"] for r in rows("reviews.csv")}
    for _, o in est.iterrows():
        raw = by_id[o["estimate_id"]]
        assert o["measure"] and o["printed_estimate"] == float(raw["estimate"]) and o["favours"] == raw["favours"]
        assert o["review"] == labels[raw["review_id"]]   # a name, not a key
        if raw["favours"] == "unclear":
            assert not o["oriented"] and pd.isna(o["estimate"])
        elif raw["favours"] == "higher":
            assert o["estimate"] == o["printed_estimate"] and not o["flipped"]
        elif o["scale"] == "ratio":
            assert o["estimate"] == pytest.approx(1 / o["printed_estimate"])
            assert o["ci_low"] == pytest.approx(1 / float(raw["ci_high"]))
        else:
            assert o["estimate"] == -o["printed_estimate"] and o["ci_low"] == -float(raw["ci_high"])
    # Lloyd-Evans 2014 prints improvements as negative SMDs: turned, they agree with Fuhr 2014's print
    lloyd = est[(est["review_id"] == "lloydevans2014") & est["outcome"].str.startswith("Self-rated recovery (post")]
    assert lloyd["estimate"].iloc[0] > 0 and lloyd["printed_estimate"].iloc[0] < 0


def test_no_estimate_is_shown_without_measure_and_orientation(tmp_path):
    from analysis import dataset
    from analysis.book.pages.evidence import evidence_map_md
    from analysis.chapter import analyse_domain, render

    ds = dataset.load(DATA)
    page = evidence_map_md(ds, tmp_path / "figures", tmp_path).split("## Inconsistencies")[0]
    table = [line for line in page.splitlines() if line.startswith("| ") and "favours peer support" not in line]
    assert table and all(line.count("|") == 10 for line in table)
    for line in table[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "outcome" or set(cells[0]) <= set("-"):
            continue
        measure, oriented, direction = cells[5], cells[6], cells[8]
        assert measure and oriented and ("= benefit" in direction or direction.replace("\\", "") == "unclear: not turned"), line
    for domain in ds.domains:
        md = render.published_md(analyse_domain(ds, domain["id"]))
        for line in md.splitlines():
            if line.startswith("| ") and not line.startswith("| Review") and not line.startswith("|---"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                assert cells[4] and cells[5] and cells[6] and cells[7], line    # measure, oriented, printed, direction
