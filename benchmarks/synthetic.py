"""Write a synthetic dataset of N trials in the review's schema, for scale benchmarks.

    python benchmarks/synthetic.py N OUT_DIR [--seed S]

Every generated row says ``synthetic`` in its ``source`` (and the data package title says so):
these are not trials. OUT_DIR must not be the repository's ``data/``. The dataset has 8 outcome
domains (the three recovery categories and five sub-domains); each trial reports 1-4 outcomes
of different sub-domains, mostly as means and SDs on instruments of the real dataset (their
scale ranges and directions), some as events and some as effect and SE. True effects are drawn
from N(0.2, 0.15^2) on the SMD scale, arm sizes log-normal around 60 (10-400). Instruments,
reviews and published estimates are copied from ``data/`` (they describe real instruments and
reviews, not trials); every synthetic trial is listed under smit2022 in study_reviews.csv with
the g a source would print (``recorded_g``), so that the reproduction of Smit et al. runs on the
synthetic rows as on the Metapsy import. The bibliography gets one ``@misc`` entry per trial.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from analysis.stats.effects import escalc

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data"

DOMAINS = [
    ("personal-recovery", "Personal recovery", "category"),
    ("clinical-recovery", "Clinical recovery", "category"),
    ("functional-recovery", "Functional recovery", "category"),
    ("self-rated-recovery", "Self-rated recovery", "subdomain"),
    ("empowerment-self-efficacy", "Empowerment and self-efficacy", "subdomain"),
    ("quality-of-life", "Quality of life", "subdomain"),
    ("depression", "Depression", "subdomain"),
    ("global-symptoms", "Overall symptoms", "subdomain"),
]
#: sub-domain -> category; every sub-domain has an instrument with a known scale in data/.
SUBDOMAINS = {
    "self-rated-recovery": "personal-recovery", "empowerment-self-efficacy": "personal-recovery",
    "depression": "clinical-recovery",
    "global-symptoms": "clinical-recovery", "quality-of-life": "functional-recovery",
    "loneliness-social-support": "functional-recovery", "functioning": "functional-recovery",
}
ENUMS = {
    "population": ["smi", "depression-perinatal", "eating-disorders", "other"],
    "format": ["individual", "group", "mixed"],
    "delivery": ["face-to-face", "telephone", "internet", "mixed"],
    "setting": ["added-to-services", "established-roles", "independent-of-services", "online"],
    "comparator": ["cau", "waitlist", "other"],
}
ROB = ["low", "some-concerns", "high"]


def _read(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def _write(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)


def _instruments() -> dict[str, list[dict]]:
    """Instruments with a known scale range that the real dataset uses, per sub-domain."""
    _, instruments = _read(REAL / "instruments.csv")
    scale = {i["instrument"]: i for i in instruments if i["scale_min"] and i["scale_max"]}
    _, outcomes = _read(REAL / "outcomes.csv")
    by_sub: dict[str, list[dict]] = {}
    for o in outcomes:
        if o["subdomain"] in SUBDOMAINS and o["instrument"] in scale and o["data_type"] == "msd":
            if scale[o["instrument"]] not in by_sub.setdefault(o["subdomain"], []):
                by_sub[o["subdomain"]].append(scale[o["instrument"]])
    missing = set(SUBDOMAINS) - set(by_sub)
    if missing:
        raise SystemExit(f"data/ has no msd instrument with a scale for {sorted(missing)}")
    return by_sub


def _r(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def generate(n_trials: int, seed: int = 20240611) -> dict[str, list[dict]]:
    """Rows of studies, outcomes, risk_of_bias and study_reviews for ``n_trials`` synthetic trials."""
    rng = np.random.default_rng(seed)
    instruments = _instruments()
    source = f"synthetic (benchmarks/synthetic.py, seed {seed}): not a real trial"
    studies, outcomes, rob, reviews = [], [], [], []
    subs = list(SUBDOMAINS)
    for i in range(1, n_trials + 1):
        sid = f"synth{i:05d}"
        year = int(rng.integers(1995, 2026))
        n_arm = int(np.clip(rng.lognormal(np.log(60), 0.6), 10, 400))
        studies.append({
            "study_id": sid, "label": f"Synthetic {i:05d} {year}", "first_author": f"Synthetic{i:05d}",
            "year": year, "country": "", "design": "cluster-rct" if rng.random() < 0.1 else "individual-rct",
            "arms": 2, **{k: str(rng.choice(v)) for k, v in ENUMS.items()}, "peer_role": "",
            "n_total": 2 * n_arm, "mean_age": _r(rng.uniform(20, 60), 1),
            "percent_women": _r(rng.uniform(20, 100), 1), "structure": "", "outcome_data": "extracted",
            "citation_key": sid, "source": source, "source_row": f"trial {i}", "notes": "synthetic",
        })
        rob_row = {f"d{d}": str(rng.choice(ROB, p=[0.5, 0.35, 0.15])) for d in range(1, 6)}
        overall = max(rob_row.values(), key=ROB.index)
        rob.append({"study_id": sid, "outcome_id": "", **rob_row, "overall": overall,
                    "source": source, "source_row": f"trial {i}"})
        reviews.append({"study_id": sid, "review_id": "smit2022", "label_in_review": f"Synthetic {i:05d}",
                        "ref_in_review": "", "source": source, "source_row": f"trial {i}"})
        for j, sub in enumerate(rng.choice(subs, size=int(rng.integers(1, 5)), replace=False)):
            outcomes.append(_outcome(rng, sid, j, str(sub), instruments, n_arm, source))
    return {"studies": studies, "outcomes": outcomes, "risk_of_bias": rob, "study_reviews": reviews}


def _outcome(rng, sid: str, j: int, sub: str, instruments: dict, n_arm: int, source: str) -> dict:
    inst = instruments[sub][int(rng.integers(len(instruments[sub])))]
    g = rng.normal(0.2, 0.15)
    n1, n2 = n_arm + int(rng.integers(-3, 4)), n_arm + int(rng.integers(-3, 4))
    row = {k: "" for k in ("n1", "mean1", "sd1", "n2", "mean2", "sd2", "events1", "total1", "events2",
                           "total2", "yi", "sei", "recorded_g", "recorded_g_se")}
    kind = rng.choice(["msd", "effect-se", "events"], p=[0.85, 0.1, 0.05])
    if kind == "msd":
        low, high = float(inst["scale_min"]), float(inst["scale_max"])
        sd = (high - low) * rng.uniform(0.12, 0.22)
        mean2 = low + (high - low) * rng.uniform(0.35, 0.55)
        sign = 1.0 if inst["higher_is_better"] == "true" else -1.0
        mean1 = mean2 + sign * (g + rng.normal(0, np.sqrt(2 / n_arm))) * sd
        row.update(n1=n1, mean1=_r(mean1, 3), sd1=_r(sd * rng.uniform(0.9, 1.1), 3),
                   n2=n2, mean2=_r(mean2, 3), sd2=_r(sd * rng.uniform(0.9, 1.1), 3))
    elif kind == "effect-se":
        row.update(yi=_r(g + rng.normal(0, np.sqrt(4 / (n1 + n2))), 4), sei=_r(np.sqrt(4 / (n1 + n2)), 4))
    else:  # a good event (e.g. remission): log OR = g pi / sqrt(3) (Chinn 2000)
        p2 = rng.uniform(0.2, 0.5)
        odds1 = p2 / (1 - p2) * np.exp(g * np.pi / np.sqrt(3))
        p1 = odds1 / (1 + odds1)
        row.update(events1=int(rng.binomial(n1, p1)), total1=n1, events2=int(rng.binomial(n2, p2)), total2=n2)
        inst = {"instrument": "Synthetic remission", "higher_is_better": "true"}
    row["recorded_g"], row["recorded_g_se"] = _printed_g(row, str(kind), inst["higher_is_better"] == "true")
    return {"outcome_id": f"{sid}-o{j + 1}", "study_id": sid, "arm1": "peer support", "arm2": "control",
            "comparator": "cau", "category": SUBDOMAINS[sub], "subdomain": sub, "subdomain_source": "",
            "instrument": inst["instrument"], "timepoint": "post", "time_weeks": int(rng.integers(8, 53)),
            "data_type": str(kind), **row, "source": source, "source_row": f"outcome {sid}-o{j + 1}",
            "verified": "unverified", "notes": ""}


def _printed_g(row: dict, kind: str, higher_is_better: bool) -> tuple[str, str]:
    """The g a source would print beside the data (as Metapsy's ``.g``, ``.g_se``): Hedges' g from
    the arms, the effect itself, or the log odds ratio times sqrt(3)/pi (Chinn 2000)."""
    if kind == "effect-se":
        return row["yi"], row["sei"]
    if kind == "msd":
        es = escalc("SMD", **{c: np.array([float(row[c])]) for c in ("n1", "mean1", "sd1", "n2", "mean2", "sd2")},
                    higher_is_better=higher_is_better)
        return _r(es.yi[0], 4), _r(np.sqrt(es.vi[0]), 4)
    es = escalc("OR", **{c: np.array([float(row[c])]) for c in ("events1", "total1", "events2", "total2")},
                drop00=False)
    factor = np.sqrt(3) / np.pi
    return _r(es.yi[0] * factor, 4), _r(np.sqrt(es.vi[0]) * factor, 4)


def _domains_yml() -> str:
    lines = ["# SYNTHETIC benchmark dataset (benchmarks/synthetic.py): 8 outcome domains.\n"]
    for domain_id, title, key in DOMAINS:
        lines.append(f"- id: {domain_id}\n  title: {title}\n  measure: SMD\n  select:\n    {key}: [{domain_id}]\n"
                     f"  description: {title} (synthetic data, not real trials).\n")
    return "".join(lines)


def write(n_trials: int, out: Path, seed: int = 20240611) -> dict[str, int]:
    """Write the dataset into ``out`` (created; existing files replaced); returns row counts."""
    out = Path(out)
    if out.resolve() == REAL.resolve():
        raise SystemExit("refusing to write synthetic data into the repository's data/")
    out.mkdir(parents=True, exist_ok=True)
    tables = generate(n_trials, seed)
    for name, rows in tables.items():
        header, _ = _read(REAL / f"{name}.csv")
        _write(out / f"{name}.csv", header, rows)
    header, instruments = _read(REAL / "instruments.csv")
    instruments.append({"instrument": "Synthetic remission", "construct": "remission", "higher_is_better": "true",
                        "scale_min": "", "scale_max": "", "notes": "event = remission (synthetic)",
                        "source": "synthetic (benchmarks/synthetic.py)"})
    _write(out / "instruments.csv", header, instruments)
    for name in ("reviews.csv", "published_estimates.csv"):
        shutil.copyfile(REAL / name, out / name)
    header, _ = _read(REAL / "curation.csv")
    _write(out / "curation.csv", header, [])
    package = json.loads((REAL / "datapackage.json").read_text(encoding="utf-8"))
    package["title"] = f"SYNTHETIC benchmark dataset ({n_trials} generated trials, seed {seed}; not real trials)"
    (out / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "domains.yml").write_text(_domains_yml(), encoding="utf-8")
    bib = (REAL / "references.bib").read_text(encoding="utf-8")
    bib += "".join(f"\n@misc{{{s['study_id']},\n  author = {{{{Synthetic}}}},\n  title = {{{{{s['label']}: "
                   f"synthetic trial for benchmarks}}}},\n  year = {{{s['year']}}},\n  note = {{not a real trial}}\n}}\n"
                   for s in tables["studies"])
    (out / "references.bib").write_text(bib, encoding="utf-8")
    for stale in ("grade.yml", "release.json", "search_flow.json", "CHANGELOG.md"):
        (out / stale).unlink(missing_ok=True)  # they describe the real trials
    return {name: len(rows) for name, rows in tables.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of trials")
    parser.add_argument("out", type=Path, help="output directory (not data/)")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    counts = write(args.n, args.out, args.seed)
    print(f"{args.out}: " + ", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
