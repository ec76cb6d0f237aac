"""What changed: compare the current results with the last release's snapshot.

A release snapshot (``data/release.json``) records, for the dataset version it was made from, a
hash of every trial's and outcome row's data and the main result of every domain. The build
compares the current data and results with it and the "What's new" page lists trials added,
removed or changed (by ``study_id``), each affected domain's estimate and CI before and after,
and conclusion changes (the CI now excludes or includes zero; the direction changed).
``python -m analysis release --version YY.MINOR.PATCH`` (:func:`release`) writes a new snapshot and
changelog entry.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from pathlib import Path

import pandas as pd

from analysis import dataset
from analysis.book import citation
from analysis.book.fingerprint import data_fingerprint
from analysis.chapter.render import md_escape
from analysis.dataset.files import atomic_write
from analysis.stats.conventions import RATIO_MEASURES
from analysis.stats.formatting import text as fmt

SNAPSHOT = "release.json"
HISTORY = "CHANGELOG.md"


def _row_hash(row: pd.Series) -> str:
    """Hash of a row's data columns.

    Bookkeeping columns such as ``_line`` are left out, so that inserting a row elsewhere in the
    file does not change this one.
    """
    values = {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
              for k, v in row.items() if not str(k).startswith("_")}
    text = json.dumps(values, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _table_hashes(frame: pd.DataFrame, key: str) -> dict[str, str]:
    return {str(row[key]): _row_hash(row) for _, row in frame.iterrows()}


def _conclusion(result: dict) -> str:
    """Direction of a domain's main result in words: which side of no effect its 95% CI lies on.

    A ratio is analysed on the log scale; ``orientation`` -1 means that a lower value favours peer
    support.
    """
    primary = result.get("primary", result)
    lo, hi = primary.get("ci_low"), primary.get("ci_high")
    if lo is None or hi is None or primary.get("k", 2) < 2:
        return "no pooled estimate"
    orientation = result.get("orientation", 1)
    lo, hi = sorted((orientation * lo, orientation * hi))
    if lo > 0:
        return "favours peer support (CI excludes no effect)"
    if hi < 0:
        return "favours control (CI excludes no effect)"
    return "no clear effect (CI includes no effect)"


def _study_states(ds) -> dict:
    """Per trial: its label, whether its data are extracted, its outcome rows and its reports."""
    out = {}
    refs = ds.study_references if not ds.study_references.empty else None
    for row in ds.studies.to_dict("records"):
        sid = row["study_id"]
        keys = [row["citation_key"]]
        if refs is not None:
            keys += sorted(refs.loc[refs["study_id"] == sid, "citation_key"])
        out[sid] = {"label": row["label"], "outcome_data": row["outcome_data"],
                    "outcomes": sorted(ds.raw_outcomes.loc[ds.raw_outcomes["study_id"] == sid, "outcome_id"]),
                    "references": keys}
    return out


def snapshot(ds, domain_results: dict, version: str | None = None, date: str | None = None,
             notes: str | None = None) -> dict:
    """The comparable state of the review, as :func:`diff` compares it.

    It holds the data hashes, what each trial holds, the curation decisions, the mapping of
    published estimates and each domain's main result.
    """
    studies = _table_hashes(ds.studies, "study_id")
    outcomes = ds.raw_outcomes
    rows = _table_hashes(outcomes, "outcome_id")
    # a trial changes when its study row, any of its outcome rows, its RoB, its curation or its
    # further reports change
    trial = {}
    tables = [ds.raw_rob, ds.curation] + ([] if ds.study_references.empty else [ds.study_references])
    for sid in sorted(studies):
        parts = [studies[sid]]
        parts += [rows[o] for o in sorted(outcomes.loc[outcomes["study_id"] == sid, "outcome_id"])]
        for table in tables:
            parts += [_row_hash(r) for _, r in table[table["study_id"] == sid].iterrows()]
        trial[sid] = hashlib.sha256("".join(parts).encode()).hexdigest()[:16]
    domains = {}
    for domain_id, res in sorted(domain_results.items()):
        p = res["primary"]
        domains[domain_id] = {
            "title": res.get("title"), "measure": res.get("measure", "SMD"),
            "k": p.get("k"), "estimate": p.get("estimate"), "ci_low": p.get("ci_low"),
            "ci_high": p.get("ci_high"), "conclusion": _conclusion(res),
            "studies": res.get("studies", []),
            "certainty": (res.get("grade") or {}).get("certainty"),
            "stability": ((res.get("living") or {}).get("stability") or {}).get("statement"),
        }
    published = {} if ds.published.empty else {
        str(r["estimate_id"]): (None if pd.isna(r.get("domain")) else r.get("domain")) for _, r in ds.published.iterrows()}
    return {"version": version or ds.version, "date": date, "notes": notes, "trials": trial,
            "studies": _study_states(ds),
            "curation": {str(r["curation_id"]): str(r["study_id"]) for _, r in ds.curation.iterrows()},
            "published": published, "domains": domains}


#: Kinds of change, in the order "What's new" lists them.
CHANGE_KINDS = {
    "trial-added": "Trials added", "trial-extracted": "Trials extracted (they awaited data)",
    "trial-listed": "Trials listed (awaiting data)", "outcome-added": "Outcome rows added",
    "report-added": "Reports added to a trial", "value-corrected": "Values corrected by a curation decision",
    "estimate-mapped": "Published estimates mapped to an outcome", "trial-changed": "Other changes to a trial's data",
    "trial-removed": "Trials removed",
}


def _events(old: dict, new: dict) -> list[dict]:
    """What happened between two snapshots, one event per change, each with its kind and trial."""
    events = []
    old_studies, new_studies = old.get("studies"), new.get("studies", {})
    for sid in sorted(set(new["trials"]) - set(old["trials"])):
        state = new_studies.get(sid, {})
        kind = "trial-added" if state.get("outcome_data") == "extracted" else "trial-listed"
        events.append({"kind": kind, "study": sid, "label": state.get("label", sid)})
    for sid in sorted(set(old["trials"]) - set(new["trials"])):
        events.append({"kind": "trial-removed", "study": sid, "label": (old_studies or {}).get(sid, {}).get("label", sid)})
    new_decisions = {c: sid for c, sid in new.get("curation", {}).items() if c not in old.get("curation", {})} \
        if "curation" in old else {}
    for sid in sorted(set(new["trials"]) & set(old["trials"])):
        if new["trials"][sid] == old["trials"][sid]:
            continue
        before, after = (old_studies or {}).get(sid), new_studies.get(sid, {})
        label = after.get("label", sid)
        found = False
        if before is not None:
            if before["outcome_data"] != "extracted" and after.get("outcome_data") == "extracted":
                events.append({"kind": "trial-extracted", "study": sid, "label": label,
                               "detail": f"{len(after['outcomes'])} outcome row(s)"})
                found = True
            else:
                added = sorted(set(after.get("outcomes", [])) - set(before["outcomes"]))
                if added:
                    events.append({"kind": "outcome-added", "study": sid, "label": label, "detail": ", ".join(added)})
                    found = True
            reports = sorted(set(after.get("references", [])) - set(before["references"]))
            if reports:
                events.append({"kind": "report-added", "study": sid, "label": label, "detail": ", ".join(reports)})
                found = True
        decisions = sorted(c for c, owner in new_decisions.items() if owner == sid)
        if decisions:
            events.append({"kind": "value-corrected", "study": sid, "label": label, "detail": ", ".join(decisions)})
            found = True
        if not found:
            events.append({"kind": "trial-changed", "study": sid, "label": label})
    if "published" in old:
        for eid, domain in sorted(new.get("published", {}).items()):
            if domain and old["published"].get(eid) != domain:
                events.append({"kind": "estimate-mapped", "study": None, "label": eid, "detail": domain})
    return events


def diff(old: dict | None, new: dict) -> dict:
    """Differences between two snapshots: the events, and the domains whose numbers changed.

    ``old`` is None for the first release. Domains whose conclusion changed come first.
    """
    if old is None:
        return {"since": None, "added": sorted(new["trials"]), "removed": [], "changed": [], "events": [],
                "domains": []}
    events = _events(old, new)
    added = sorted(set(new["trials"]) - set(old["trials"]))
    removed = sorted(set(old["trials"]) - set(new["trials"]))
    changed = sorted(t for t in set(new["trials"]) & set(old["trials"]) if new["trials"][t] != old["trials"][t])
    touched = set(added) | set(removed) | set(changed)
    domains = []
    for domain_id in sorted(set(new["domains"]) | set(old["domains"])):
        before, after = old["domains"].get(domain_id), new["domains"].get(domain_id)
        trials = set((before or {}).get("studies", [])) | set((after or {}).get("studies", []))
        numbers_moved = (before is None or after is None or
                         any(before.get(k) != after.get(k) for k in ("k", "estimate", "ci_low", "ci_high")))
        conclusion_change = []
        if before and after and before["conclusion"] != after["conclusion"]:
            conclusion_change.append(f"{before['conclusion']} -> {after['conclusion']}")
        if before and after and before.get("certainty") != after.get("certainty"):
            conclusion_change.append(f"certainty {before.get('certainty')} -> {after.get('certainty')}")
        if before and after and before.get("stability") != after.get("stability"):
            conclusion_change.append(f"stability: {before.get('stability')} -> {after.get('stability')}")
        if not numbers_moved and not conclusion_change:
            continue
        domains.append({"domain": domain_id, "title": (after or before).get("title") or domain_id,
                        "before": before, "after": after, "trials": sorted(trials & touched),
                        "methods_only": not (trials & touched), "conclusion_change": conclusion_change})
    domains.sort(key=lambda d: not d["conclusion_change"])
    return {"since": old.get("version"), "added": added, "removed": removed, "changed": changed,
            "events": events, "domains": domains}


def load_snapshot(data_dir: Path) -> dict | None:
    """The release snapshot of ``data_dir`` (``release.json``), or None before the first release."""
    path = Path(data_dir) / SNAPSHOT
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _result_md(result: dict | None) -> str:
    if result is None:
        return "absent"
    measure = result.get("measure", "SMD")
    shown = (lambda v: None if v is None else math.exp(v)) if measure in RATIO_MEASURES else (lambda v: v)
    name = "g" if measure == "SMD" else measure
    return (f"{name} = {fmt(shown(result['estimate']))} [{fmt(shown(result['ci_low']))}, "
            f"{fmt(shown(result['ci_high']))}], {result['k']} trial(s)")


def changes_md(changes: dict, link=None) -> str:
    """The changes in Markdown: what happened, then the domains whose numbers changed.

    What happened is listed by kind, with trial names; domains whose conclusion changed come
    first. ``link(domain_id)`` gives a chapter's link target.
    """
    lines = []
    if changes.get("since") is None and not changes["domains"]:
        return f"First release: {len(changes['added'])} trials listed (with outcome data or awaiting extraction).\n"
    events = changes.get("events", [])
    for kind, title in CHANGE_KINDS.items():
        mine = [e for e in events if e["kind"] == kind]
        if mine:
            items = [md_escape(e["label"]) + (f" ({md_escape(e['detail'])})" if e.get("detail") else "") for e in mine]
            lines.append(f"- {title}: " + "; ".join(items))
    if not lines:
        lines.append("- No trial data changed.")
    for d in changes["domains"]:
        title = md_escape(d.get("title") or d["domain"])
        name = f"[{title}]({link(d['domain'])})" if link else f"**{title}**"
        line = f"- {name}: {_result_md(d['before'])} → {_result_md(d['after'])}"
        if d.get("methods_only"):
            line += " (no trial's data changed: the analysis methods did)"
        elif d["trials"]:
            line += " (trials: " + ", ".join(md_escape(t) for t in d["trials"]) + ")"
        if d["conclusion_change"]:
            line += "; **conclusion changed**: " + "; ".join(md_escape(c) for c in d["conclusion_change"])
        lines.append(line)
    return "\n".join(lines) + "\n"


class ReleaseError(Exception):
    """A release was refused; nothing was written. ``code``: the command's exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def release(version: str, data_dir, results_dir, today: str | None = None, notes: str | None = None) -> Path:
    """Record the built results of ``data_dir`` as release ``version``.

    A release writes the snapshot (``release.json``), a changelog entry with the release notes,
    and the version and date in ``datapackage.json``.

    Refused (:class:`ReleaseError`, nothing written): a malformed version; a version not greater
    than the last release's; invalid data; missing results; results built from other data than
    ``data_dir`` holds now (stale: the build records the data's fingerprint). Returns the
    changelog's path.
    """
    if not re.fullmatch(r"\d{2}\.\d+\.\d+", version):
        raise ReleaseError(f"version {version!r}: rule version-format: expected YY.MINOR.PATCH", 2)
    data_dir, results_dir = Path(data_dir), Path(results_dir)
    last = load_snapshot(data_dir)
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    for what, previous in (("the last release", (last or {}).get("version")),
                           ("the dataset version", package.get("version"))):
        if previous and re.fullmatch(r"\d+\.\d+\.\d+", previous) and _version(version) <= _version(previous):
            raise ReleaseError(f"version {version}: rule version-order: not greater than {what} ({previous})", 2)
    try:
        ds = dataset.load(data_dir)
    except dataset.DataError as exc:
        raise ReleaseError(f"the data have {len(exc.issues)} error(s); run `python -m analysis check`") from exc
    build_file = results_dir / "build.json"
    built_from = json.loads(build_file.read_text(encoding="utf-8")).get("data_fingerprint") \
        if build_file.exists() else None
    if built_from != data_fingerprint(data_dir):
        raise ReleaseError(f"{results_dir}: rule results-stale: the results were not built from the data in "
                           f"{data_dir} as they are now; run `python -m analysis build` first")
    domain_results = {}
    for domain in ds.domains:
        path = results_dir / f"{domain['id']}.json"
        if not path.exists():
            raise ReleaseError(f"{path}: missing; run `python -m analysis build` first")
        domain_results[domain["id"]] = json.loads(path.read_text(encoding="utf-8"))
    today = today or dt.date.today().isoformat()
    notes = " ".join(notes.split()) if notes else None
    new = snapshot(ds, domain_results, version=version, date=today, notes=notes)
    changes = diff(last, new)
    entry = f"## {version} ({today})\n\n" + (f"{notes}\n\n" if notes else "") + f"{changes_md(changes)}\n"
    history = data_dir / HISTORY
    old_text = history.read_text(encoding="utf-8") if history.exists() else "# Changelog\n\n"
    head, _, rest = old_text.partition("\n\n")
    package["version"], package["updated"] = version, today
    atomic_write(history, f"{head}\n\n{entry}\n{rest}".rstrip() + "\n")
    atomic_write(data_dir / SNAPSHOT, json.dumps(new, indent=1, sort_keys=True) + "\n")
    atomic_write(data_dir / "datapackage.json", json.dumps(package, indent=2, ensure_ascii=False) + "\n")
    # the repository's citation files carry the same version and date (data/ sits in the repository root)
    citation.stamp(data_dir.resolve().parent, version, today)
    return history
