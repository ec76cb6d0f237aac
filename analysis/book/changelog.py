"""What changed: compare the current results with the last release's snapshot.

A release snapshot (``data/release.json``) records, for the dataset version it was made from, a
hash of every trial's and outcome row's data and the main result of every domain. The build
compares the current data and results with it and the "What's new" page lists trials added,
removed or changed (by ``study_id``), each affected domain's estimate and CI before and after,
and conclusion changes (the CI now excludes or includes zero; the direction changed).
``python -m analysis release --version YY.MINOR.PATCH`` writes a new snapshot and changelog entry.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

SNAPSHOT = "release.json"
HISTORY = "CHANGELOG.md"


def _row_hash(row: pd.Series) -> str:
    """Hash of a row's data columns (bookkeeping columns such as ``_line`` are left out, so that
    inserting a row elsewhere in the file does not change this one)."""
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
    path = Path(data_dir) / SNAPSHOT
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis release --version X``: snapshot the current build as a release."""
    parser = argparse.ArgumentParser(prog="python -m analysis release")
    parser.add_argument("--version", required=True, help="new dataset version, YY.MINOR.PATCH")
    parser.add_argument("--data", default="data")
    parser.add_argument("--results", default="_build/results", help="results of a build of this data")
    args = parser.parse_args(argv)
    import re

    from analysis import data

    if not re.fullmatch(r"\d{2}\.\d+\.\d+", args.version):
        print(f"error: version {args.version!r}: rule version-format: expected YY.MINOR.PATCH", file=sys.stderr)
        return 2
    data_dir, results = Path(args.data), Path(args.results)
    try:
        ds = data.load(data_dir)
    except data.DataError as exc:
        print(f"error: the data have {len(exc.issues)} error(s); run `python -m analysis check`", file=sys.stderr)
        return 1
    domain_results = {}
    for domain in ds.domains:
        path = results / f"{domain['id']}.json"
        if not path.exists():
            print(f"error: {path}: missing; run `python -m analysis build` first", file=sys.stderr)
            return 1
        domain_results[domain["id"]] = json.loads(path.read_text(encoding="utf-8"))
    today = dt.date.today().isoformat()
    new = snapshot(ds, domain_results, version=args.version, date=today)
    changes = diff(load_snapshot(data_dir), new)
    from analysis.pages import changes_md

    entry = f"## {args.version} ({today})\n\n{changes_md(changes)}\n"
    history = data_dir / HISTORY
    old_text = history.read_text(encoding="utf-8") if history.exists() else "# Changelog\n\n"
    head, _, rest = old_text.partition("\n\n")
    history.write_text(f"{head}\n\n{entry}\n{rest}".rstrip() + "\n", encoding="utf-8")
    (data_dir / SNAPSHOT).write_text(json.dumps(new, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    package["version"] = args.version
    (data_dir / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    print(f"release {args.version}: snapshot {data_dir / SNAPSHOT}, changelog {history}")
    return 0
