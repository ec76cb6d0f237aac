"""Changelog: differences between release snapshots, and their rendering."""
from analysis.book import changelog
from analysis.book.changelog import changes_md


def snap(version, trials, domains, **extra):
    return {"version": version, "date": None, "trials": trials, "domains": domains, **extra}


def dom(k, est, lo, hi, studies, certainty=None, title=None):
    return {"k": k, "estimate": est, "ci_low": lo, "ci_high": hi, "studies": studies, "certainty": certainty,
            "title": title, "conclusion": changelog._conclusion({"k": k, "ci_low": lo, "ci_high": hi})}


def study(label, state="extracted", outcomes=(), references=()):
    return {"label": label, "outcome_data": state, "outcomes": list(outcomes), "references": list(references)}


def test_added_changed_removed_and_conclusion_change():
    old = snap("26.1.0", {"a2001": "h1", "b2002": "h2", "c2003": "h3"},
               {"qol": dom(3, 0.10, -0.02, 0.22, ["a2001", "b2002", "c2003"], "Low"),
                "dep": dom(2, 0.30, 0.10, 0.50, ["a2001", "b2002"], "Moderate")})
    new = snap(None, {"a2001": "h1", "b2002": "CHANGED", "d2020": "h4"},
               {"qol": dom(3, 0.15, 0.03, 0.27, ["a2001", "b2002", "d2020"], "Low"),
                "dep": dom(2, 0.30, 0.10, 0.50, ["a2001", "b2002"], "Moderate")})
    d = changelog.diff(old, new)
    assert d["since"] == "26.1.0"
    assert d["added"] == ["d2020"] and d["removed"] == ["c2003"] and d["changed"] == ["b2002"]
    by = {x["domain"]: x for x in d["domains"]}
    assert by["qol"]["trials"] == ["b2002", "c2003", "d2020"]
    assert by["qol"]["conclusion_change"] == [
        "no clear effect (CI includes no effect) -> favours peer support (CI excludes no effect)"]
    # dep contains a changed trial but its numbers did not move: only domains whose numbers changed are listed
    assert "dep" not in by
    text = changes_md(d)
    assert "d2020" in text and "0.10 [" in text and "0.15 [" in text and "conclusion changed" in text


def test_what_happened_is_named_by_kind():
    old = snap("1", {"a": "1", "b": "1", "c": "1"}, {},
               studies={"a": study("A 2001", "not yet extracted"), "b": study("B 2002", outcomes=["b-1"], references=["b"]),
                        "c": study("C 2003", outcomes=["c-1"])},
               curation={}, published={"e1": None})
    new = snap(None, {"a": "2", "b": "2", "c": "2", "n": "1"}, {},
               studies={"a": study("A 2001", outcomes=["a-1"]), "b": study("B 2002", outcomes=["b-1", "b-2"],
                                                                        references=["b", "b-2019"]),
                        "c": study("C 2003", outcomes=["c-1"]), "n": study("N 2024", outcomes=["n-1"])},
               curation={"c-sd1": "c"}, published={"e1": "qol"})
    events = {(e["kind"], e["label"]) for e in changelog.diff(old, new)["events"]}
    assert events == {("trial-extracted", "A 2001"), ("outcome-added", "B 2002"), ("report-added", "B 2002"),
                      ("value-corrected", "C 2003"), ("trial-added", "N 2024"), ("estimate-mapped", "e1")}
    text = changes_md(changelog.diff(old, new))
    assert text.index("Trials added") < text.index("Trials extracted") < text.index("Outcome rows added")


def test_conclusion_changes_come_first_and_methods_only_changes_say_so():
    old = snap("1", {"a": "x", "b": "x"}, {"p": dom(2, 0.1, 0.01, 0.2, ["a"], title="P"),
                                          "q": dom(2, 0.1, -0.1, 0.3, ["b"], title="Q")})
    new = snap(None, {"a": "x", "b": "x"}, {"p": dom(2, 0.12, 0.02, 0.22, ["a"], title="P"),
                                           "q": dom(2, 0.2, 0.05, 0.35, ["b"], title="Q")})
    d = changelog.diff(old, new)
    assert [x["domain"] for x in d["domains"]] == ["q", "p"]
    assert all(x["methods_only"] for x in d["domains"])
    text = changes_md(d, link=lambda domain: f"../domains/{domain}.ipynb")
    assert "[Q](../domains/q.ipynb)" in text and "the analysis methods did" in text


def test_certainty_change_is_a_conclusion_change():
    old = snap("1", {"a": "x"}, {"q": dom(2, 0.2, 0.1, 0.3, ["a"], "Low")})
    new = snap(None, {"a": "y"}, {"q": dom(2, 0.2, 0.1, 0.3, ["a"], "Moderate")})
    assert changelog.diff(old, new)["domains"][0]["conclusion_change"] == ["certainty Low -> Moderate"]


def test_nothing_changed():
    s = snap("1", {"a": "x"}, {"q": dom(2, 0.2, 0.1, 0.3, ["a"])})
    d = changelog.diff(s, dict(s, version=None))
    assert d["added"] == d["removed"] == d["changed"] == [] and d["domains"] == [] and d["events"] == []


def test_stability_statement_change_is_a_conclusion_change():
    a = dict(dom(2, 0.2, 0.1, 0.3, ["a"], "Low"), stability="about 400 participants")
    b = dict(dom(2, 0.2, 0.1, 0.3, ["a"], "Low"), stability="about 900 participants")
    d = changelog.diff(snap("1", {"a": "x"}, {"q": a}), snap(None, {"a": "y"}, {"q": b}))
    assert d["domains"][0]["conclusion_change"] == ["stability: about 400 participants -> about 900 participants"]


def test_a_harmful_event_reads_the_other_way():
    # log RR < 0 for admissions: fewer admissions with peer support
    assert changelog._conclusion({"primary": {"k": 3, "ci_low": -0.5, "ci_high": -0.1}, "orientation": -1}) \
        == "favours peer support (CI excludes no effect)"
    assert changelog._conclusion({"k": 1, "ci_low": 0.1, "ci_high": 0.3}) == "no pooled estimate"
