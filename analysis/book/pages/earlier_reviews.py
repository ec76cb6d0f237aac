"""Earlier reviews, re-examined: each source review's question answered from the living data.

The page only shows :func:`analysis.chapter.earlier_reviews` (the entries of
``_build/results/earlier_reviews.json``); it computes nothing.
"""
from __future__ import annotations

from analysis.book.pages.common import md_table
from analysis.chapter.earlier_reviews import NOT_ELIGIBLE_NOTE, REVIEW_ORDER
from analysis.chapter.render import md_escape
from analysis.stats.formatting import text as fmt
from analysis.stats.formatting import text_p as fmt_p

KIND = {"exact": "exact reproduction", "approximate": "approximate re-analysis"}


def earlier_reviews_md(entries: list[dict], ds) -> str:
    """The page: per review its question, methods, trials and outcomes beside ours."""
    labels = ds.studies.set_index("study_id")["label"].to_dict()
    parts = [
        "# Earlier reviews, re-examined\n",
        "Five reviews fed this living review. Each asked its own question; this page answers it from our data. "
        "For each review: its question and methods in two lines, its trials matched to ours, and each of its "
        "pooled results that maps to one of our outcomes beside our analysis restricted to its trials, with the "
        "difference explained. All estimates are oriented so that **positive values favour peer support** (a "
        "review's estimate printed with the opposite convention is shown with its sign reversed; the printed text "
        "is kept in the results file). An *exact reproduction* matches every printed number to its printed "
        "decimals; every other comparison is an *approximate re-analysis*: our rows, instruments, timepoints and "
        "the model we use to approximate the review's differ from theirs, as each explanation says. The numbers "
        "are in `_build/results/earlier_reviews.json`.\n",
    ]
    for review in REVIEW_ORDER:
        mine = [e for e in entries if e["review"] == review]
        if mine:
            parts.append(_review_md(mine, labels, ds))
    return "\n".join(parts)


def _review_md(entries: list[dict], labels: dict, ds) -> str:
    first = entries[0]
    out = [f"## {md_escape(first['label'])}\n", f"{{cite:p}}`{first['review']}`\n",
           f"**Question.** {md_escape(first['question'])}\n", f"**Methods.** {md_escape(first['methods'])}\n"]
    out.append(_trials_md(ds, first["review"], labels))
    rows = []
    for e in entries:
        rows.append([md_escape(e["outcome_as_published"]), md_escape(e["outcome"] or "none"), _published_cell(e),
                     _ours_cell(e["ours"], e["outcome"]), "" if e["difference"] is None else fmt(e["difference"]),
                     KIND[e["kind"]] if e["outcome"] or e["review"] == "cooper2024" else "not re-analysed"])
    out.append(md_table(["outcome (as published)", "our domain", "published", "ours (its trials)",
                         "difference", "kind"], rows) + "\n")
    unmatched = [e for e in entries if e["outcome"] is None and e["review"] != "cooper2024"]
    if unmatched:
        out.append("Outcomes without a domain here are shown as printed and not re-analysed: none of our outcome "
                   "domains holds them (domains.yml).\n")
    for e in entries:
        if e in unmatched:
            continue
        out.append(f"**{md_escape(e['outcome_as_published'])}.** {md_escape(e['explanation'])}\n")
        if e.get("quoted"):
            out.append(_quoted_md(e["quoted"]))
        for sub in e["subgroups"]:
            out.append(_subgroup_md(e, sub))
    return "\n".join(out)


def _trials_md(ds, review: str, labels: dict) -> str:
    links = ds.study_reviews
    ids = sorted(links.loc[links["review_id"] == review, "study_id"])
    if not ids:
        return ("**Trials.** The review names no primary trial (its overlap matrix of 426 primary studies is not "
                "in the text), so none can be matched to ours.\n")
    state = ds.studies.set_index("study_id")["outcome_data"]
    with_data = [labels[s] for s in ids if state.get(s) == "extracted"]
    awaiting = [labels[s] for s in ids if state.get(s) != "extracted"]
    text = (f"**Trials.** {len(ids)} of its trials are in this review: {len(with_data)} with outcome data here "
            f"({md_escape(', '.join(with_data)) or 'none'}) and {len(awaiting)} awaiting data"
            + (f" ({md_escape(', '.join(awaiting))}; see [Trials awaiting data](awaiting.md))" if awaiting else "")
            + f". Not eligible here: {NOT_ELIGIBLE_NOTE}.")
    return text + "\n"


def _published_cell(e: dict) -> str:
    p = e["published"]
    if p is None:
        return "pools nothing (quotes its reviews)"
    if p.get("estimate") is None:
        return "no number printed" + (f" (k = {p['k']})" if p.get("k") else "")
    flipped = " (sign reversed)" if p.get("flipped") else ""
    if e.get("outcome") is None and e.get("review") != "cooper2024":
        flipped = " (as printed)"
    k = f"k = {p['k']}: " if p.get("k") is not None else ""
    return f"{k}{fmt(p['estimate'])} [{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]{flipped}"


def _ours_cell(o: dict | None, domain=None) -> str:
    if o is None:
        return "no trial of it has rows here" if domain else "not re-analysed"
    return f"k = {int(o['k'])}: {fmt(o['estimate'])} [{fmt(o['ci_low'])}, {fmt(o['ci_high'])}]"


def _quoted_md(items: list[dict]) -> str:
    rows = [[md_escape(i["review"]), md_escape(i["outcome"]), md_escape(i["timepoint"] or ""),
             "" if i["k"] is None else i["k"], md_escape(i["measure"] or ""),
             "" if i["estimate"] is None else f"{fmt(i['estimate'])} [{fmt(i['ci_low'])}, {fmt(i['ci_high'])}]",
             md_escape(i["amstar2"] or "not rated")] for i in items]
    return md_table(["review", "outcome", "timepoint", "k", "measure", "estimate as printed", "AMSTAR 2"], rows) + "\n"


def _subgroup_md(e: dict, sub: dict) -> str:
    head = f"*{md_escape(sub['title'])}, within the review's trials.*"
    ours = {g["subgroup"]: g for g in sub["ours_groups"]}
    names = list(dict.fromkeys([p["subgroup"] for p in sub["published"]] + list(ours)))
    rows = []
    for name in names:
        pub = next((p for p in sub["published"] if p["subgroup"] == name), None)
        mine = ours.get(name)
        rows.append([md_escape(name),
                     "" if pub is None else (_published_cell({"published": pub}) if pub.get("estimate") is not None
                                             else "no number printed"),
                     "" if mine is None else f"k = {mine['k']}: {fmt(mine['estimate'])} "
                                             f"[{fmt(mine['ci_low'])}, {fmt(mine['ci_high'])}]",
                     "" if mine is None else md_escape(", ".join(mine["studies"]))])
    if isinstance(sub["ours"], str):
        test = f"Ours: {md_escape(sub['ours'])}."
    else:
        res = sub["ours"]
        test = (f"Ours, test for subgroup differences: Q = {fmt(res['q_between'])}, df = {res['df_between']}, "
                f"p = {fmt_p(res['p_between'])}." + (" " + md_escape("; ".join(res["notes"])) + "." if res["notes"]
                                                      else ""))
    table = md_table(["subgroup", "published", "ours", "our trials"], rows) + "\n" if rows else ""
    return f"{head} {test}\n\n{table}"
