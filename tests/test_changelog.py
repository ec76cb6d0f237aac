"""Changelog: differences between release snapshots, and their rendering."""
from analysis.book import changelog
from analysis.book.changelog import changes_md


def snap(version, trials, domains):
    return {"version": version, "date": None, "trials": trials, "domains": domains}


def dom(k, est, lo, hi, studies, certainty=None):
    return {"k": k, "estimate": est, "ci_low": lo, "ci_high": hi, "studies": studies, "certainty": certainty,
            "conclusion": changelog._conclusion({"ci_low": lo, "ci_high": hi})}


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
        "no clear effect (CI includes zero) -> favours peer support (CI excludes zero)"]
    # dep contains a changed trial but its numbers did not move: listed, without conclusion change
    assert by["dep"]["conclusion_change"] == []
    text = changes_md(d)
    assert "`d2020`" in text and "0.10 [" in text and "0.15 [" in text and "conclusion changed" in text


def test_certainty_change_is_a_conclusion_change():
    old = snap("1", {"a": "x"}, {"q": dom(1, 0.2, 0.1, 0.3, ["a"], "Low")})
    new = snap(None, {"a": "y"}, {"q": dom(1, 0.2, 0.1, 0.3, ["a"], "Moderate")})
    assert changelog.diff(old, new)["domains"][0]["conclusion_change"] == ["certainty Low -> Moderate"]


def test_nothing_changed():
    s = snap("1", {"a": "x"}, {"q": dom(1, 0.2, 0.1, 0.3, ["a"])})
    d = changelog.diff(s, dict(s, version=None))
    assert d["added"] == d["removed"] == d["changed"] == [] and d["domains"] == []


def test_stability_statement_change_is_a_conclusion_change():
    a = dict(dom(1, 0.2, 0.1, 0.3, ["a"], "Low"), stability="about 400 participants")
    b = dict(dom(1, 0.2, 0.1, 0.3, ["a"], "Low"), stability="about 900 participants")
    d = changelog.diff(snap("1", {"a": "x"}, {"q": a}), snap(None, {"a": "y"}, {"q": b}))
    assert d["domains"][0]["conclusion_change"] == ["stability: about 400 participants -> about 900 participants"]
