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
import re
from pathlib import Path

import pandas as pd

from analysis import dataset
from analysis.book import citation
from analysis.chapter.render import md_escape
from analysis.dataset.files import atomic_write
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


def _conclusion(primary: dict) -> str:
    lo, hi = primary.get("ci_low"), primary.get("ci_high")
    if lo is None or hi is None:
        return "no pooled estimate"
    if lo > 0:
        return "favours peer support (CI excludes zero)"
    if hi < 0:
        return "favours control (CI excludes zero)"
    return "no clear effect (CI includes zero)"


def snapshot(ds, domain_results: dict, version: str | None = None, date: str | None = None) -> dict:
    """The comparable state of the review: data hashes and each domain's main result."""
    studies = _table_hashes(ds.studies, "study_id")
    outcomes = ds.raw_outcomes
    rows = _table_hashes(outcomes, "outcome_id")
    # a trial changes when its study row, any of its outcome rows, its RoB or its curation changes
    trial = {}
    for sid in sorted(studies):
        parts = [studies[sid]]
        parts += [rows[o] for o in sorted(outcomes.loc[outcomes["study_id"] == sid, "outcome_id"])]
        for table in (ds.rob, ds.curation):
            parts += [_row_hash(r) for _, r in table[table["study_id"] == sid].iterrows()]
        trial[sid] = hashlib.sha256("".join(parts).encode()).hexdigest()[:16]
    domains = {}
    for domain_id, res in sorted(domain_results.items()):
        p = res["primary"]
        domains[domain_id] = {
            "k": p.get("k"), "estimate": p.get("estimate"), "ci_low": p.get("ci_low"),
            "ci_high": p.get("ci_high"), "conclusion": _conclusion(p),
            "studies": res.get("studies", []),
            "certainty": (res.get("grade") or {}).get("certainty"),
            "stability": ((res.get("living") or {}).get("stability") or {}).get("statement"),
        }
    return {"version": version or ds.version, "date": date, "trials": trial, "domains": domains}


def diff(old: dict | None, new: dict) -> dict:
    """Differences between two snapshots (``old`` None: first release)."""
    if old is None:
        return {"since": None, "added": sorted(new["trials"]), "removed": [], "changed": [], "domains": []}
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
        if not (trials & touched) and not numbers_moved:
            continue
        conclusion_change = []
        if before and after and before["conclusion"] != after["conclusion"]:
            conclusion_change.append(f"{before['conclusion']} -> {after['conclusion']}")
        if before and after and before.get("certainty") != after.get("certainty"):
            conclusion_change.append(f"certainty {before.get('certainty')} -> {after.get('certainty')}")
        if before and after and before.get("stability") != after.get("stability"):
            conclusion_change.append(f"stability: {before.get('stability')} -> {after.get('stability')}")
        domains.append({"domain": domain_id, "before": before, "after": after,
                        "trials": sorted(trials & touched), "conclusion_change": conclusion_change})
    return {"since": old.get("version"), "added": added, "removed": removed, "changed": changed,
            "domains": domains}


def load_snapshot(data_dir: Path) -> dict | None:
    """The release snapshot of ``data_dir`` (``release.json``), or None before the first release."""
    path = Path(data_dir) / SNAPSHOT
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def changes_md(changes: dict) -> str:
    """The changes since the last release as a Markdown list (trials, each domain's shift)."""
    lines = []
    if changes.get("since") is None and not changes["domains"]:
        return f"First release: {len(changes['added'])} trials listed (with outcome data or awaiting extraction).\n"
    for kind in ("added", "removed", "changed"):
        if changes[kind]:
            lines.append(f"- Trials {kind}: " + ", ".join(f"`{md_escape(t)}`" for t in changes[kind]))
    if not lines:
        lines.append("- No trial data changed.")
    for d in changes["domains"]:
        b, a = d["before"], d["after"]
        bt = "absent" if b is None else f"g = {fmt(b['estimate'])} [{fmt(b['ci_low'])}, {fmt(b['ci_high'])}], k = {b['k']}"
        at = "absent" if a is None else f"g = {fmt(a['estimate'])} [{fmt(a['ci_low'])}, {fmt(a['ci_high'])}], k = {a['k']}"
        trials = ", ".join(md_escape(t) for t in d["trials"])
        line = f"- **{md_escape(d['domain'])}**: {bt} → {at}" + (f" (trials: {trials})" if trials else "")
        if d["conclusion_change"]:
            line += "; **conclusion changed**: " + "; ".join(md_escape(c) for c in d["conclusion_change"])
        lines.append(line)
    return "\n".join(lines) + "\n"


class ReleaseError(Exception):
    """A release was refused; nothing was written. ``code``: the command's exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def release(version: str, data_dir, results_dir, today: str | None = None) -> Path:
    """Record the built results of ``data_dir`` as release ``version``.

    Writes the snapshot (``release.json``), a changelog entry, the version in
    ``datapackage.json``, and the version and date in the repository's ``CITATION.cff`` and
    ``.zenodo.json`` (beside ``data_dir``).

    Raises :class:`ReleaseError` (nothing written) for a malformed version, invalid data or
    missing results. Returns the changelog's path.
    """
    if not re.fullmatch(r"\d{2}\.\d+\.\d+", version):
        raise ReleaseError(f"version {version!r}: rule version-format: expected YY.MINOR.PATCH", 2)
    data_dir, results_dir = Path(data_dir), Path(results_dir)
    try:
        ds = dataset.load(data_dir)
    except dataset.DataError as exc:
        raise ReleaseError(f"the data have {len(exc.issues)} error(s); run `python -m analysis check`") from exc
    domain_results = {}
    for domain in ds.domains:
        path = results_dir / f"{domain['id']}.json"
        if not path.exists():
            raise ReleaseError(f"{path}: missing; run `python -m analysis build` first")
        domain_results[domain["id"]] = json.loads(path.read_text(encoding="utf-8"))
    today = today or dt.date.today().isoformat()
    new = snapshot(ds, domain_results, version=version, date=today)
    changes = diff(load_snapshot(data_dir), new)
    entry = f"## {version} ({today})\n\n{changes_md(changes)}\n"
    history = data_dir / HISTORY
    old_text = history.read_text(encoding="utf-8") if history.exists() else "# Changelog\n\n"
    head, _, rest = old_text.partition("\n\n")
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    package["version"] = version
    atomic_write(history, f"{head}\n\n{entry}\n{rest}".rstrip() + "\n")
    atomic_write(data_dir / SNAPSHOT, json.dumps(new, indent=1, sort_keys=True) + "\n")
    atomic_write(data_dir / "datapackage.json", json.dumps(package, indent=2, ensure_ascii=False) + "\n")
    # the repository's citation files carry the same version and date (data/ sits in the repository root)
    citation.stamp(data_dir.resolve().parent, version, today)
    return history
