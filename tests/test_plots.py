"""Tests of the review's figures (analysis/figures.py).

Figures are checked through what they draw (texts, patches, sizes) and through their files:
identical input must give byte-identical PNG/SVG. Numbers on the figures are compared with values
computed here independently of the plotting code (Wald intervals yi -/+ z sqrt(vi), metafor's
baujat() output, hand counts of the PRISMA flow).
"""
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from analysis import figures
from analysis.stats import meta, moderators, sensitivity  # noqa: E402

from datasets import bcg_log_rr  # noqa: E402

MINUS = "\u2212"
Z975 = 1.959963984540054
FLOW = Path(__file__).resolve().parents[1] / "data" / "sources" / "metapsy-peer-support" / "metadata" / "search_flow.json"
SIZES = (1, 2, 30, 300)


def fmt(x: float) -> str:
    """Two decimals with a typographic minus (independent of the module's formatter)."""
    text = f"{x:.2f}"
    return ("0.00" if text == "-0.00" else text).replace("-", MINUS)


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def fitted(k: int, seed: int = 11, method: str = "DL"):
    rng = np.random.default_rng(seed + k)
    yi = rng.normal(0.3, 0.35, k)
    vi = rng.uniform(0.01, 0.25, k)
    labels = [f"Trial {i + 1:03d}, {1990 + i % 35}" for i in range(k)]
    return meta.rma(yi, vi, method=method, labels=labels, measure="SMD")


@pytest.fixture(scope="module")
def results():
    return {k: fitted(k) for k in SIZES}


def rob_frame(labels, judgements=("low", "some-concerns", "high")):
    rows = []
    for i, label in enumerate(labels):
        rows.append({"study": label, **{d: judgements[(i + j) % len(judgements)]
                                        for j, d in enumerate(figures.style.ROB_DOMAINS)}})
    return pd.DataFrame(rows)


def by_gid(fig, gid):
    """Artists the module tagged with ``gid`` (also the element ids in an SVG file)."""
    return [a for a in fig.findobj(lambda a: a.get_gid() == gid)]


def no_warnings(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args, **kwargs)


# -- every figure, small and large k ---------------------------------------------------------

@pytest.mark.parametrize("k", SIZES)
def test_every_figure_for_small_and_large_k(results, k, tmp_path):
    res = results[k]
    rob = rob_frame(res.labels)
    drawn = [
        no_warnings(figures.forest, res, rob=rob),
        no_warnings(figures.funnel, res),
        no_warnings(figures.baujat, res),
        no_warnings(figures.cumulative_forest, sensitivity.cumulative(res)),
        no_warnings(figures.rob_traffic_light, rob),
        no_warnings(figures.rob_summary, rob, weights=res.weights),
    ]
    if k > 1:   # leave-one-out is undefined for a single study (sensitivity.leave_one_out raises)
        drawn.append(no_warnings(figures.leave_one_out_plot, sensitivity.leave_one_out(res), res))
    for fig in drawn:
        assert isinstance(fig, Figure)
    # drawing (where text layout happens) must not warn either, e.g. about missing glyphs
    no_warnings(figures.save, drawn[0], tmp_path / "forest.png")


def test_forest_height_grows_with_k(results):
    heights = [figures.forest(results[k]).get_size_inches()[1] for k in SIZES]
    assert all(a < b for a, b in zip(heights, heights[1:]))
    # constant row height: 300 studies are as legible as 30
    per_row = (heights[3] - heights[2]) / (300 - 30)
    assert per_row == pytest.approx(figures.style.ROW_HEIGHT)


def test_rob_traffic_light_height_grows_with_k(results):
    heights = [figures.rob_traffic_light(rob_frame(results[k].labels)).get_size_inches()[1] for k in SIZES]
    assert all(a < b for a, b in zip(heights, heights[1:]))


# -- forest content --------------------------------------------------------------------------

def test_forest_shows_labels_estimates_weights_and_favours(results):
    res = results[30]
    fig = figures.forest(res, favours=("Favours control", "Favours peer support"))
    shown = texts(fig)
    joined = "\n".join(shown)
    sei = np.sqrt(res.vi)
    for label, yi, se, w in zip(res.labels, res.yi, sei, res.weights):
        assert label in shown
        assert f"{fmt(yi)} [{fmt(yi - Z975 * se)}, {fmt(yi + Z975 * se)}]" in shown
        assert f"{w:.1f}%" in shown
    assert f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]" in shown
    assert f"[{fmt(res.pi_low)}, {fmt(res.pi_high)}]" in shown
    assert "Favours control" in joined and "Favours peer support" in joined
    assert f"Q = {res.q:.2f}, df = {res.q_df}" in joined
    # random effects: the tau²-based I² is the headline, the Q-based one beside it
    assert f"I\u00b2 = {res.i2_tau2:.0f}% (Q-based {res.i2_q:.0f}%)" in joined


def test_forest_square_area_is_proportional_to_weight(results):
    res = fitted(8, seed=3)
    fig = figures.forest(res)
    squares = by_gid(fig, "studies")
    assert len(squares) == 1
    sizes = squares[0].get_sizes()
    w = np.asarray(res.weights)
    big = w / w.max() > 0.2        # below that the minimum marker size applies
    np.testing.assert_allclose(sizes[big] / sizes[big].max(), w[big] / w.max(), rtol=1e-12)


def test_forest_arm_data_and_risk_of_bias_columns():
    res = fitted(4, seed=5)
    arm = pd.DataFrame({"n1": [20, 31, 45, 12], "mean1": [10.5, 11.25, 9.0, 12.0],
                        "sd1": [2.0, 3.5, 2.25, 4.0], "n2": [22, 30, 44, 13],
                        "mean2": [9.5, 10.0, 8.75, 11.5], "sd2": [2.5, 3.0, 2.0, 4.5]})
    rob = rob_frame(res.labels)
    rob.loc[1, "d3"] = None          # not assessed: a grey circle without a symbol
    fig = figures.forest(res, arm_data=arm, rob=rob)
    shown = texts(fig)
    for value in ("20", "10.5", "11.25", "2.25", "9.5", "4.5", "Mean", "SD", "Total", "Peer support",
                  "Control", "D1", "D5", "Risk of bias"):
        assert value in shown
    # symbols on the circles: 4 studies x 6 domains, one not assessed
    symbols = [t for t in texts(fig.axes[0]) if t in ("+", "?", MINUS)]
    assert len(symbols) == 4 * 6 - 1
    circles = by_gid(fig, "risk-of-bias")
    assert sum(len(c.get_offsets()) for c in circles) == 4 * 6


def test_forest_binary_arm_data():
    res = fitted(2, seed=9)
    arm = {"events1": [3, 10], "total1": [40, 52], "events2": [7, 12], "total2": [41, 50]}
    shown = texts(figures.forest(res, arm_data=arm))
    assert "Events" in shown and "52" in shown and "41" in shown


def test_forest_rejects_misaligned_arm_data():
    res = fitted(3, seed=1)
    with pytest.raises(ValueError, match="2 row\\(s\\) for 3 studies"):
        figures.forest(res, arm_data=pd.DataFrame({"n1": [1, 2], "mean1": [1, 2], "sd1": [1, 1],
                                                 "n2": [1, 2], "mean2": [1, 2], "sd2": [1, 1]}))
    with pytest.raises(ValueError, match="expected columns"):
        figures.forest(res, arm_data=pd.DataFrame({"n": [1, 2, 3]}))


def test_forest_clipped_intervals_get_arrows():
    yi = np.array([0.2, 0.3, 0.25, 0.1])
    vi = np.array([0.01, 0.02, 0.015, 4.0])    # the last CI is [-3.8, 4.0]: far beyond the others
    res = meta.rma(yi, vi, method="DL", labels=list("abcd"))
    fig = figures.forest(res)
    lo, hi = fig.axes[0].get_xlim()
    assert lo > 0.1 - Z975 * 2 and hi < 0.1 + Z975 * 2
    for gid, edge in (("clipped-low", lo), ("clipped-high", hi)):
        (arrow,) = by_gid(fig, gid)
        np.testing.assert_allclose(arrow.get_offsets(), [[edge, 3]])   # row 3 = study "d"


def test_forest_ratio_measure_on_log_axis():
    yi = np.log([0.5, 0.8, 1.25, 0.6])
    vi = np.array([0.04, 0.09, 0.05, 0.1])
    res = meta.rma(yi, vi, method="DL", labels=list("abcd"), measure="RR")
    fig = figures.forest(res, exp=True, effect_label="Risk ratio",
                       favours=("Favours peer support", "Favours control"))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (null,) = by_gid(fig, "null-line")
    assert null.get_xdata()[0] == 1.0
    shown = texts(fig)
    se = np.sqrt(vi[0])
    assert f"0.50 [{fmt(np.exp(yi[0] - Z975 * se))}, {fmt(np.exp(yi[0] + Z975 * se))}]" in shown
    assert f"{fmt(np.exp(res.estimate))} [{fmt(np.exp(res.ci_low))}, {fmt(np.exp(res.ci_high))}]" in shown


def test_forest_sort_orders_rows():
    res = fitted(6, seed=21)
    shown = texts(figures.forest(res, sort="estimate"))
    rows = [t for t in shown if t in res.labels]
    assert rows == [res.labels[i] for i in np.argsort(res.yi)]
    with pytest.raises(ValueError, match="sort"):
        figures.forest(res, sort="year")


def test_forest_pagination(results):
    res = results[300]
    pages = figures.forest(res, max_rows=60)
    assert isinstance(pages, list) and len(pages) == 6
    labels = [t for page in pages for t in texts(page) if t in set(res.labels)]
    assert labels == list(res.labels)             # every study once, in order
    assert "Forest plot (page 6 of 6)" in texts(pages[-1])
    assert any(t.startswith("Overall") for t in texts(pages[-1]))
    assert not any(t.startswith("Overall") for t in texts(pages[0]))
    rows = [round(p.get_size_inches()[1] / figures.style.ROW_HEIGHT) for p in pages]
    assert max(rows) - min(rows) <= 2             # balanced pages
    with pytest.raises(ValueError, match="max_rows"):
        figures.forest(res, max_rows=0)


def test_subgroup_forest_shows_each_subgroup_and_the_test():
    res = fitted(12, seed=4, method="REML")
    groups = ["group-based" if i % 3 else "one-to-one" for i in range(12)]
    sg = moderators.subgroup(res, groups)
    fig = figures.forest(sg)
    shown = texts(fig)
    joined = "\n".join(shown)
    assert "group-based" in shown and "one-to-one" in shown
    assert (f"Test for subgroup differences: Q = {sg.q_between:.2f}, df = {sg.df_between} "
            f"(p = {sg.p_between:.3f})") in shown
    for name, sub in sg.groups.items():
        assert f"{fmt(sub.estimate)} [{fmt(sub.ci_low)}, {fmt(sub.ci_high)}]" in shown
        assert f"Q = {sub.q:.2f}, df = {sub.q_df}" in joined
    diamonds = by_gid(fig, "diamond")
    assert len(diamonds) == len(sg.groups) + 1
    # studies keep their weight in the overall analysis; a subtotal is the sum of its studies'
    for name, sub in sg.groups.items():
        total = sum(res.weights[res.labels.index(s)] for s in sub.labels)
        assert f"{total:.1f}%" in shown


# -- determinism -----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_saving_twice_gives_identical_bytes(results, tmp_path, suffix):
    res = results[30]
    rob = rob_frame(res.labels)
    a = figures.save(figures.forest(res, rob=rob, title="Personal recovery"), tmp_path / f"a.{suffix}")
    b = figures.save(figures.forest(res, rob=rob, title="Personal recovery"), tmp_path / f"b.{suffix}")
    assert a.read_bytes() == b.read_bytes()
    other = figures.save(figures.forest(res, rob=rob, title="Clinical recovery"), tmp_path / f"c.{suffix}")
    assert other.read_bytes() != a.read_bytes()
    data = a.read_bytes()
    assert b"Matplotlib v" not in data and b"<dc:date>" not in data and b"CreationDate" not in data
    # the figure's one-sentence description travels with the file (alternative text)
    if suffix != "pdf":   # PDF strings are encoded, not searchable as bytes
        assert f"Forest plot of 30 studies; pooled Hedges' g {fmt(res.estimate)}".encode() in data


def test_save_rejects_unknown_format(results, tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        figures.save(figures.funnel(results[30]), tmp_path / "plot.jpg")


# -- funnel and Baujat -----------------------------------------------------------------------

def test_funnel_contours_and_points(results):
    res = results[30]
    fig = figures.funnel(res)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1] == 0            # SE axis inverted, 0 at the top
    shown = texts(fig)
    for label in ("p > 0.1", "0.05 < p \u2264 0.1", "0.01 < p \u2264 0.05", "p \u2264 0.01"):
        assert label in shown
    (points,) = by_gid(fig, "studies")
    points = points.get_offsets()
    np.testing.assert_allclose(points[:, 0], res.yi)
    np.testing.assert_allclose(points[:, 1], np.sqrt(res.vi))
    with pytest.raises(ValueError, match="contours"):
        figures.funnel(res, contours=(95,))


# BCG vaccine trials (Colditz 1994; tests/datasets.py), log risk ratios; expected values printed by
# metafor 3.8.1:  dat <- escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
#   b <- baujat(rma(yi, vi, data=dat, method=m, control=list(threshold=1e-12, maxiter=1000)))
#   sprintf("%.10f", b$x); sprintf("%.10f", b$y)        for m in "REML", "FE"
METAFOR_BAUJAT = {
    "REML": ([0.0478183405, 1.4934114076, 0.5508753367, 1.5860500735, 0.6777110311, 0.0160055560,
              1.5319030626, 1.6638459497, 0.1625233292, 1.1168477625, 0.4322210972, 1.5922385451,
              1.2637881718],
             [0.0015375009, 0.1121070734, 0.0243490469, 0.2377736417, 0.0669858350, 0.0003332722,
              0.1079094854, 0.1989646719, 0.0183816218, 0.1113896159, 0.0489706407, 0.0618345640,
              0.1153128762]),
    "FE": ([0.6471587360, 6.8571096272, 2.0279242864, 51.1073136255, 0.8837578017, 18.3351122201,
            6.3562772563, 49.3676862705, 0.0271351610, 12.1272954278, 0.6660857179, 1.4417192428,
            2.3884327092],
           [0.0032765992, 0.0582907850, 0.0080393380, 4.5630994855, 0.0292413495, 5.7112311794,
            0.0470926810, 34.8795103128, 0.0008122359, 0.2786393378, 0.1014178565, 0.0044542984,
            0.0561515477]),
}


#: metafor's baujat() printed with 10 decimals (the absolute floor, for coordinates near 0); the
#: REML refits of each leave-one-out step converge to ~1e-10 relative, so 1e-7 relative.
METAFOR_BAUJAT_REL = 1e-7
METAFOR_BAUJAT_ABS = 1e-10
#: The x coordinates and Q are two sums of the same 13 terms in double precision.
SAME_SUM_REL = 1e-12
#: One unit of the 4th decimal of tests/reference/REFERENCE-VALUES.md (a looser check than
#: rounding to it; test_effects checks the rounding of this Q).
ONE_UNIT_4DP = 1e-4


def bcg(method):
    yi, vi = bcg_log_rr()
    return meta.rma(yi, vi, method=method, labels=[f"Trial {i + 1}" for i in range(13)], measure="RR")


@pytest.mark.parametrize("method", ["REML", "FE"])
def test_colditz1994_bcg_baujat_points_match_metafor(method):
    points = figures.baujat_points(bcg(method))
    x, y = METAFOR_BAUJAT[method]
    np.testing.assert_allclose(points["x"], x, rtol=METAFOR_BAUJAT_REL, atol=METAFOR_BAUJAT_ABS)
    np.testing.assert_allclose(points["y"], y, rtol=METAFOR_BAUJAT_REL, atol=METAFOR_BAUJAT_ABS)


def test_colditz1994_bcg_baujat_x_sums_to_q_for_a_common_effect_model():
    # Baujat et al. (2002): for the common-effect model the x coordinates partition Q
    res = bcg("FE")
    assert figures.baujat_points(res)["x"].sum() == pytest.approx(res.q, rel=SAME_SUM_REL)
    # tests/reference/REFERENCE-VALUES.md R1: fixed effect Q = 152.2330
    assert res.q == pytest.approx(152.2330, abs=ONE_UNIT_4DP)


def test_baujat_plot_labels_the_extreme_studies():
    fig = figures.baujat(bcg("FE"), max_labels=3)
    shown = texts(fig)
    assert {"Trial 4", "Trial 6", "Trial 8"} <= set(shown)
    assert "Trial 1" not in shown


# -- cumulative and leave-one-out ------------------------------------------------------------

def test_cumulative_forest_rows_follow_the_frame():
    res = fitted(5, seed=8)
    frame = sensitivity.cumulative(res)
    shown = texts(figures.cumulative_forest(frame))
    for i, row in enumerate(frame.itertuples()):
        label = row.study if i == 0 else f"+ {row.study}"
        assert label in shown
        assert f"{fmt(row.estimate)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}]" in shown
    with pytest.raises(ValueError, match="missing column"):
        figures.cumulative_forest(frame.drop(columns="ci_low"))


def test_leave_one_out_plot_marks_the_full_result():
    res = fitted(6, seed=2)
    frame = sensitivity.leave_one_out(res)
    fig = figures.leave_one_out_plot(frame, res)
    shown = texts(fig)
    for row in frame.itertuples():
        assert f"Omitting {row.study}" in shown
    assert f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]" in shown
    (band,) = by_gid(fig, "reference-band")
    assert band.get_x() == pytest.approx(res.ci_low, rel=1e-12)
    assert band.get_x() + band.get_width() == pytest.approx(res.ci_high, rel=1e-12)


# -- risk of bias ----------------------------------------------------------------------------

@pytest.mark.parametrize("func", [figures.rob_traffic_light, figures.rob_summary])
def test_rob_plots_reject_unknown_judgements(func):
    rob = rob_frame(["Smith, 2001", "Jones, 2003"])
    rob.loc[1, "d4"] = "moderate"
    with pytest.raises(ValueError, match=r"row 2 \(study 'Jones, 2003'\), column 'd4'.*'moderate'"):
        func(rob)


def test_rob_plots_reject_missing_columns():
    with pytest.raises(ValueError, match="missing column.*d5"):
        figures.rob_traffic_light(pd.DataFrame({"study": ["a"], "d1": ["low"], "d2": ["low"],
                                              "d3": ["low"], "d4": ["low"], "overall": ["low"]}))


def test_rob_traffic_light_symbols():
    rob = rob_frame(["A", "B", "C"])
    rob.loc[0, "d1"] = "Some concerns"          # spelling variants are accepted
    shown = texts(figures.rob_traffic_light(rob))
    assert shown.count("+") + shown.count("?") + shown.count(MINUS) >= 18
    for text in ("Low risk", "Some concerns", "High risk", "D1", "Overall", "A", "C"):
        assert text in shown


def test_rob_proportions_by_hand():
    rob = pd.DataFrame({"study": ["a", "b", "c", "d"],
                        "d1": ["low", "low", "high", "some-concerns"],
                        "d2": ["low", "low", "low", "low"],
                        "d3": ["high", None, "high", "high"],
                        "d4": ["low"] * 4, "d5": ["low"] * 4,
                        "overall": ["some-concerns", "low", "high", "high"]})
    plain = figures.rob_proportions(rob)
    assert plain.loc["d1"].to_dict() == {"low": 50.0, "some-concerns": 25.0, "high": 25.0,
                                         "not-assessed": 0.0}
    assert plain.loc["d3", "not-assessed"] == 25.0
    weighted = figures.rob_proportions(rob, {"a": 10, "b": 30, "c": 20, "d": 40})
    # d1: low = (10 + 30) / 100, high = 20 / 100, some concerns = 40 / 100
    assert weighted.loc["d1"].to_dict() == pytest.approx({"low": 40.0, "some-concerns": 40.0,
                                                          "high": 20.0, "not-assessed": 0.0})
    assert weighted.loc["overall", "high"] == pytest.approx(60.0)
    with pytest.raises(ValueError, match="no weight for study 'd'"):
        figures.rob_summary(rob, {"a": 1, "b": 1, "c": 1})
    shown = texts(figures.rob_summary(rob, {"a": 10, "b": 30, "c": 20, "d": 40}))
    assert "Percentage of total meta-analysis weight" in shown and "60%" in shown


# -- PRISMA ----------------------------------------------------------------------------------

def test_prisma_from_the_metapsy_search_flow():
    flow = json.loads(FLOW.read_text())
    shown = texts(no_warnings(figures.prisma, flow))
    # hand counts: 3901 + 8 - 3455 = 454 duplicates; 3455 - 133 = 3322 excluded at screening;
    # 133 - 28 = 105 full texts excluded (the 13 reasons sum to 105)
    for text in ("Databases (n = 3,901)", "Other sources (n = 8)", "Duplicate records (n = 454)",
                 "(n = 3,455)", "(n = 3,322)", "(n = 133)", "Full-text reports excluded (n = 105)",
                 "Different type of intervention (n = 26)", "Duplicate (n = 1)", "(n = 28)",
                 "Identification", "Screening", "Included"):
        assert text in shown
    reasons = [t for t in shown if t.endswith(")") and "(n = " in t and t[0].isupper()]
    assert reasons.index("Different type of intervention (n = 26)") < reasons.index("Design (n = 6)")


def test_prisma_rejects_inconsistent_counts():
    flow = json.loads(FLOW.read_text())
    flow["included"] = 27
    with pytest.raises(ValueError, match="sum to 105 but assessed - included = 106"):
        figures.prisma(flow)
    del flow["records.screened"]
    with pytest.raises(ValueError, match="missing key.*records.screened"):
        figures.prisma(flow)


def test_funnel_with_trim_and_fill_draws_imputed_studies_open():
    from analysis.stats import bias

    # asymmetric funnel: small studies only on the right
    yi = np.array([0.10, 0.15, 0.12, 0.45, 0.60, 0.75, 0.90])
    vi = np.array([0.004, 0.006, 0.005, 0.05, 0.08, 0.12, 0.16])
    res = meta.rma(yi, vi, method="REML", labels=list("abcdefg"), measure="SMD")
    tf = bias.trimfill(res)
    assert tf.k0 > 0
    fig = figures.funnel(res, trimfill=tf)
    (imputed,) = by_gid(fig, "imputed")
    mask = np.asarray(tf.imputed, dtype=bool)
    np.testing.assert_allclose(imputed.get_offsets()[:, 0], np.asarray(tf.filled.yi)[mask])
    np.testing.assert_allclose(imputed.get_offsets()[:, 1], np.sqrt(np.asarray(tf.filled.vi)[mask]))
    assert tuple(imputed.get_facecolors()[0]) == (1.0, 1.0, 1.0, 1.0)          # open markers
    (adjusted,) = by_gid(fig, "adjusted-estimate")
    assert adjusted.get_xdata()[0] == tf.filled.estimate
    assert "Imputed (trim-and-fill)" in texts(fig)


# -- legibility: subgroup scale, rows without arm data, text size, labels, large k -----------------

def test_subgroup_squares_are_on_the_scale_of_the_overall_analysis():
    # a light trial alone in its subgroup must not be drawn as large as the heaviest trial
    yi = np.array([0.1, 0.2, 0.15, 0.3, 0.25])
    vi = np.array([0.01, 0.012, 0.011, 0.3, 0.02])
    res = meta.rma(yi, vi, method="REML", labels=list("abcde"))
    sg = moderators.subgroup(res, ["big", "big", "big", "alone", "big"])
    fig = figures.forest(sg)
    (squares,) = by_gid(fig, "studies")
    sizes = dict(zip([t for t in texts(fig) if t in "abcde"], squares.get_sizes()))
    w = dict(zip(res.labels, res.weights))
    heaviest = max(w, key=w.get)
    # area proportional to the overall weight (above the minimum marker size)
    assert sizes["d"] < sizes[heaviest]
    assert sizes["e"] / sizes[heaviest] == pytest.approx(w["e"] / w[heaviest], rel=1e-12)


def test_a_row_without_arm_data_says_how_its_effect_was_entered():
    res = fitted(3, seed=7)
    arm = pd.DataFrame({"n1": [20, None, 30], "mean1": [1.0, None, 2.0], "sd1": [1.0, None, 1.0],
                        "n2": [21, None, 31], "mean2": [0.5, None, 1.5], "sd2": [1.0, None, 1.0],
                        "entered": ["", "reported g", ""]})
    fig = figures.forest(res, arm_data=arm)
    (note,) = by_gid(fig, "entered-as")
    assert note.get_text() == "reported g"
    assert note.get_position()[1] == 1                       # the second study's row


@pytest.mark.parametrize("draw", ["forest", "subgroup", "funnel", "baujat", "cumulative", "leave_one_out",
                                  "traffic_light", "rob_summary", "sequential", "prisma"])
def test_no_text_smaller_than_the_minimum(results, draw):
    from analysis.stats.sequential import monitor

    res = results[30]
    rob = rob_frame(res.labels)
    groups = ["one-to-one" if i % 2 else "group" for i in range(res.k)]
    drawn = {
        "forest": lambda: figures.forest(res, rob=rob),
        "subgroup": lambda: figures.forest(moderators.subgroup(res, groups)),
        "funnel": lambda: figures.funnel(res),
        "baujat": lambda: figures.baujat(res),
        "cumulative": lambda: figures.cumulative_forest(sensitivity.cumulative(res)),
        "leave_one_out": lambda: figures.leave_one_out_plot(sensitivity.leave_one_out(res), res),
        "traffic_light": lambda: figures.rob_traffic_light(rob),
        "rob_summary": lambda: figures.rob_summary(rob),
        "sequential": lambda: figures.sequential(monitor(res, np.arange(1990, 1990 + res.k), np.full(res.k, 80))),
        "prisma": lambda: figures.prisma(json.loads(FLOW.read_text())),
    }[draw]()
    sizes = {t.get_fontsize() for t in drawn.findobj(Text) if t.get_text()}
    assert min(sizes) >= figures.style.MIN_FONT_SIZE, sorted(sizes)


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)     # figures come closed in pyplot: give them a canvas to draw on
    canvas.draw()
    return canvas.get_renderer()


def _overlaps(fig, gid=None):
    renderer = _renderer(fig)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_text().strip() and t.get_visible() and (gid is None or t.get_gid() == gid)]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def test_baujat_labels_never_overlap():
    # many studies piled near one corner: some labels are left out rather than stacked
    rng = np.random.default_rng(3)
    res = meta.rma(rng.normal(0.2, 0.3, 40), rng.uniform(0.01, 0.05, 40), method="REML",
                   labels=[f"Long study name {i:02d} (instrument)" for i in range(40)])
    fig = figures.baujat(res, max_labels=40)
    labels = by_gid(fig, "point-label")
    assert labels and not _overlaps(fig, "point-label")


def test_sequential_labels_each_year_once_without_overlap():
    from analysis.stats.sequential import monitor

    res = fitted(30, method="REML")
    years = np.repeat(np.arange(2001, 2011), 3)
    result = monitor(res, years, np.full(30, 60))
    fig = figures.sequential(result)
    labels = [t.get_text() for t in by_gid(fig, "point-label")]
    assert labels and len(labels) == len(set(labels)) and set(labels) <= {str(y) for y in years}
    assert not _overlaps(fig)


def test_evidence_map_shows_every_label_whole():
    from analysis import dataset
    from analysis.book.pages.evidence import umbrella_estimates

    ds = dataset.load(Path(__file__).resolve().parents[1] / "data")
    fig = figures.evidence_map(umbrella_estimates(ds))
    renderer = _renderer(fig)
    # everything drawn (labels, ticks, legend) lies inside the figure
    drawn = fig.get_tightbbox(renderer)
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, drawn
    assert not _overlaps(fig)


@pytest.mark.parametrize("plot", ["cumulative", "leave_one_out"])
def test_cumulative_and_leave_one_out_paginate(results, plot):
    res = results[300]
    if plot == "cumulative":
        pages = figures.cumulative_forest(sensitivity.cumulative(res), max_rows=100)
        expected, n_pages = [s if i == 0 else f"+ {s}" for i, s in enumerate(res.labels)], 3
    else:
        pages = figures.leave_one_out_plot(sensitivity.leave_one_out(res), res, max_rows=100)
        # 300 omissions and the full analysis: 301 rows on 4 balanced pages of at most 100
        expected, n_pages = [f"Omitting {s}" for s in res.labels], 4
        assert any(t.startswith("All studies") for t in texts(pages[-1]))
    assert isinstance(pages, list) and len(pages) == n_pages
    shown = [t for page in pages for t in texts(page) if t in set(expected)]
    assert shown == expected
    assert f"(page {n_pages} of {n_pages}" in pages[-1].get_label()


def test_compact_subgroup_forest_has_no_study_rows(results):
    res = results[300]
    sg = moderators.subgroup(res, ["a" if i % 3 else "b" for i in range(res.k)])
    fig = figures.forest(sg, studies=False)
    shown = texts(fig)
    assert not set(res.labels) & set(shown)
    assert sum(t.startswith("Subtotal") for t in shown) == 2 and fig.get_size_inches()[1] < 5
