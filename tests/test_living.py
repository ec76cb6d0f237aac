"""Living updates that stay right: binary domains, small domains, time points, one effect per
trial, absolute effects, safe releases, the feed. Fast tests, in process, on temporary copies of
the shipped data (the end-to-end drill with a real build is tests/test_maintainer.py)."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from analysis import dataset, rma
from analysis.book import changelog, feed
from analysis.book.build import drop_undrawn_figures
from analysis.book.fingerprint import data_fingerprint
from analysis.chapter import analyse_domain, domain_figures, render, sof
from analysis.dataset.add import add_trial
from analysis.dataset.load import at_timepoint
from analysis.stats import absolute

from conftest import ROOT, TRIALS


@pytest.fixture(scope="module")
def service_use(tmp_path_factory) -> Path:
    """The shipped data with the drill's binary rows and their two domains (two trials; one trial)."""
    target = tmp_path_factory.mktemp("living") / "data"
    shutil.copytree(ROOT / "data", target, ignore=shutil.ignore_patterns("sources"))
    add_trial(TRIALS / "binary-service-use.yml", target)
    with (target / "domains.yml").open("a", encoding="utf-8") as handle:
        handle.write((TRIALS / "service-use-domains.yml").read_text(encoding="utf-8"))
    return target


def test_binary_domain_pools_log_risk_ratios_of_the_events(service_use):
    ds = dataset.load(service_use)
    rep = analyse_domain(ds, "drill-admission")
    # by hand: log RR and its variance per trial, pooled by the same model
    tables = [(9, 48, 15, 48), (12, 70, 14, 66)]   # Solomon 1995, Rivera 2007 (year order)
    yi = [math.log((a / n1) / (c / n2)) for a, n1, c, n2 in tables]
    vi = [1 / a - 1 / n1 + 1 / c - 1 / n2 for a, n1, c, n2 in tables]
    expected = rma(np.array(yi), np.array(vi), method="REML", ci="z", pi="z")
    assert rep.measure == "RR" and rep.exp and rep.harmful_event
    assert rep.primary.estimate == pytest.approx(expected.estimate, rel=1e-12)
    assert rep.n_participants == sum(n1 + n2 for _, n1, _, n2 in tables)
    assert rep.favours == ("Favours peer support", "Favours control")
    assert rep.arm_data().columns.tolist() == ["events1", "total1", "events2", "total2"]
    assert rep.numbers()["estimate"] == render.fmt(math.exp(expected.estimate))


def test_absolute_effect_per_1000_at_the_median_control_risk(service_use):
    rep = analyse_domain(dataset.load(service_use), "drill-admission")
    acr = float(np.median([15 / 48, 14 / 66]))
    assert rep.control_risk == pytest.approx(acr)
    a = rep.absolute
    assert a.intervention == pytest.approx(1000 * acr * math.exp(rep.primary.estimate))
    assert (a.difference_ci_low, a.difference_ci_high) == pytest.approx(
        (1000 * acr * (math.exp(rep.primary.ci_low) - 1), 1000 * acr * (math.exp(rep.primary.ci_high) - 1)))
    row = sof.summary_of_findings(rep)
    assert row["absolute_effect"]["per"] == 1000 and row["effect"]["measure"] == "RR"
    assert set(row) >= {"time_frame", "instruments", "absolute_effect", "comment"}


@pytest.mark.parametrize("measure, effect, risk", [("RR", math.log(0.5), 0.2 * 0.5),
                                                   ("OR", math.log(2.0), 2 * 0.2 / (1 - 0.2 + 2 * 0.2)),
                                                   ("RD", -0.05, 0.15)])
def test_corresponding_risk_formulas(measure, effect, risk):
    # Cochrane Handbook 15.4.4: ACR x RR; OR x ACR / (1 - ACR + OR x ACR); ACR + RD
    assert absolute.corresponding_risk(measure, effect, 0.2) == pytest.approx(risk)


def test_a_domain_of_one_trial_is_shown_not_pooled(service_use):
    rep = analyse_domain(dataset.load(service_use), "drill-crisis")
    assert rep.primary.k == 1 and not rep.pooled and rep.grade is None
    assert rep.prediction_interval() == (None, None) and rep.loo is None and rep.cumulative is None
    assert set(rep.skipped) >= {"sensitivity", "funnel", "leave_one_out", "certainty", "living"}
    assert "not pooled" in render.key_message_md(rep)
    json.dumps(rep.to_dict(), allow_nan=False)      # the results file is JSON without NaN
    for table in (render.pooled_table, render.subgroup_table, render.sensitivity_table):
        shown = table(rep)
        assert shown.markdown and shown._repr_html_()


def test_two_trials_have_no_prediction_interval_and_no_subgroup_tests(service_use):
    rep = analyse_domain(dataset.load(service_use), "drill-admission")
    assert rep.primary.k == 2 and rep.prediction_interval() == (None, None)
    # the per-trial table and results say what each effect was computed from
    assert domain_figures.entered_as(rep) == ["event counts"] * 2
    assert [r["entered_as"] for r in rep.to_dict()["per_trial"]] == ["event counts"] * 2
    assert all(isinstance(v, str) and "fewer than 3" in v for v in rep.subgroups.values())
    assert rep.to_dict()["primary"]["pi_low"] is None


def test_timepoint_selection():
    rows = pd.DataFrame({"study_id": ["a", "a", "a", "b", "b", "c"],
                         "timepoint": ["post", "follow-up", "follow-up", "follow-up", "follow-up", "follow-up"],
                         "time_weeks": [12, 26, 52, np.nan, np.nan, 40]})
    assert at_timepoint(rows, "post").index.tolist() == [0]
    assert at_timepoint(rows, "follow-up").index.tolist() == [2, 3, 4, 5]   # a's latest; b gives no time
    assert at_timepoint(rows, "any").index.tolist() == [0, 3, 4, 5]         # a has a post-test


def test_an_smd_domain_refuses_event_rows_without_convert_binary(service_use, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(service_use, target)
    text = (target / "domains.yml").read_text().replace("  measure: RR\n  select:\n    subdomain: [drill-crisis-contacts]",
                                                        "  measure: SMD\n  select:\n    subdomain: [drill-crisis-contacts]")
    (target / "domains.yml").write_text(text)
    errors = [i for i in dataset.check(target) if i.severity == "error"]
    assert [(i.rule, i.column) for i in errors] == [("domain-convert-binary", "convert_binary")]


def test_figure_directives_of_undrawn_figures_are_dropped():
    glued = nbformat.v4.new_code_cell("glue('forest', fig)")
    glued.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "x"},
                                            metadata={"scrapbook": {"name": "forest"}})]
    cells = [glued, nbformat.v4.new_markdown_cell("```{glue:figure} forest\n```"),
             nbformat.v4.new_markdown_cell("```{glue:figure} funnel\n```"),
             nbformat.v4.new_markdown_cell("Estimate {glue:text}`estimate`.")]
    kept = drop_undrawn_figures(cells)
    assert [c.source for c in kept[1:]] == ["```{glue:figure} forest\n```", "Estimate {glue:text}`estimate`."]


# ---------------------------------------------------------------------------------------------
# releases


@pytest.fixture
def released(tmp_path) -> tuple[Path, Path]:
    """A copy of the shipped data with results 'built' from them (the build's fingerprint)."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("sources"))
    results = tmp_path / "results"
    results.mkdir()
    ds = dataset.load(data)
    for domain in ds.domains:
        (results / f"{domain['id']}.json").write_text(json.dumps(analyse_domain(ds, domain["id"]).to_dict()))
    (results / "build.json").write_text(json.dumps({"data_fingerprint": data_fingerprint(data)}))
    return data, results


def test_release_refuses_a_version_that_is_not_greater(released):
    data, results = released
    last = json.loads((data / "release.json").read_text())["version"]
    with pytest.raises(changelog.ReleaseError, match="rule version-order"):
        changelog.release(last, data, results)
    major, minor, patch = map(int, last.split("."))
    with pytest.raises(changelog.ReleaseError, match="rule version-order"):
        changelog.release(f"{major}.{minor}.{patch - 1}" if patch else f"{major - 1}.9.9", data, results)


def test_release_refuses_stale_results(released):
    data, results = released
    (data / "outcomes.csv").write_text((data / "outcomes.csv").read_text().replace(",65,1.8,", ",66,1.8,", 1))
    with pytest.raises(changelog.ReleaseError, match="rule results-stale"):
        changelog.release("99.0.0", data, results)


def test_release_records_notes_version_and_date(released):
    data, results = released
    changelog.release("99.0.0", data, results, today="2099-01-02", notes="Two trials added.")
    package = json.loads((data / "datapackage.json").read_text())
    assert (package["version"], package["updated"]) == ("99.0.0", "2099-01-02")
    assert json.loads((data / "release.json").read_text())["notes"] == "Two trials added."
    history = (data / "CHANGELOG.md").read_text()
    assert history.index("## 99.0.0 (2099-01-02)\n\nTwo trials added.") < history.index("## 26.1.0")
    # the release's bookkeeping does not make the results stale
    assert json.loads((results / "build.json").read_text())["data_fingerprint"] == data_fingerprint(data)


def test_feed_lists_releases_and_conclusion_changes():
    history = "# Changelog\n\n## 26.2.0 (2026-12-02)\n\nNotes.\n\n## 26.1.0 (2026-11-21)\n\nFirst release.\n"
    changes = {"since": "26.2.0", "domains": [{"domain": "qol", "title": "Quality of life",
                                               "conclusion_change": ["certainty Low -> Moderate"]}]}
    text = feed.atom_feed("Peer support", history, changes, "2026-12-05")
    assert text.count("<entry>") == 3 and "<updated>2026-12-05T00:00:00Z</updated>" in text
    assert "Conclusion changed: Quality of life" in text and "tag:peer-support-living-review.org,2026:release:26.1.0" in text
    assert feed.releases(history)[0] == {"version": "26.2.0", "date": "2026-12-02", "text": "Notes."}


def test_all_rows_with_the_dependence_modelled_are_sensitivity_analyses():
    from analysis import rma_multilevel

    ds = dataset.load(ROOT / "data")
    for domain in ds.domains:
        rep = analyse_domain(ds, domain["id"])
        by_name = {s["analysis"]: s for s in rep.sensitivity}
        if len(rep.rows) == len(rep.trials):
            assert "Three-level model (rows within trials)" not in by_name
            continue
        fit = by_name["Three-level model (rows within trials)"]["result"]
        direct = rma_multilevel(rep.rows["yi"].to_numpy(float), rep.rows["vi"].to_numpy(float),
                                rep.rows["study_id"].tolist(), test="z" if rep.settings["ci"] == "z" else "t")
        assert (fit.estimate, fit.ci_low) == pytest.approx((direct.estimate, direct.ci_low), rel=1e-12)
        robust = by_name["Three-level model, cluster-robust variance (CR2)"]["result"]
        assert robust.n_clusters == len(rep.trials) and robust.vcov == "CR2"
