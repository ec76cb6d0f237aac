"""Study characteristics and their sources.

The resolved value of each trial with outcome data, and every row of ``study_characteristics.csv``
behind it (the page computes nothing).
"""
from __future__ import annotations

import pandas as pd

from analysis.chapter import tables
from analysis.chapter.labels import label_of
from analysis.dataset.characteristics import N_BASIS_LABELS

COLUMNS = ("setting", "peer_role", "peer_capacity", "group_type")


def characteristics_md(ds) -> str:
    """The page (Markdown) for the trials with outcome data."""
    st = ds.studies[ds.studies["outcome_data"] == "extracted"].sort_values(["year", "label"])
    summary = pd.DataFrame({
        "trial": st["label"],
        "n": [_n(r) for _, r in st.iterrows()],
        "size from": [N_BASIS_LABELS.get(b, "") if isinstance(b, str) else "" for b in st["n_basis"]],
        "setting (Egmose)": [_label(v, "setting") for v in st["setting"]],
        "peer role (White)": [_label(v, "peer_role") for v in st["peer_role"]],
        "adjunctive / substitute (White)": [_label(v, "peer_capacity") for v in st["peer_capacity"]],
        "type of group (Lyons)": [_label(v, "group_type") for v in st["group_type"]],
    })
    rows = ds.characteristics[ds.characteristics["study_id"].isin(set(st["study_id"]))]
    labels = st.set_index("study_id")["label"].to_dict()
    detail = pd.DataFrame({
        "trial": rows["study_id"].map(labels),
        "characteristic": rows["characteristic"],
        "value": rows["value"],
        "status": rows["status"],
        "basis": rows["basis"],
        "source": rows["source"] + " (" + rows["source_row"] + ")",
        "as printed": rows["as_printed"],
        "why / remarks": rows["notes"],
    }).sort_values(["trial", "characteristic"], kind="mergesort")
    return "\n".join([
        "# Study characteristics and their sources\n",
        "Each trial with outcome data, described by the reviews that included it: its size, the organisational "
        "setting in the classification of Høgh Egmose et al. (2023), the family of peer role and whether peer support "
        "was adjunctive or substitute in the classification of White et al. (2020), and the type of group in the "
        "classification of Lyons et al. (2021). A value is shown where its sources agree; \"not classified\" means "
        "that the trial is not among the trials of the classifying review (the reason is below). The subgroup "
        "analyses of every outcome use these values. See [Data](../data.md) for how each classification is "
        "imported.\n",
        tables.frame_table(summary, caption="Characteristics of each trial with outcome data, as classified by the "
                           "earlier reviews", name="tbl-trial-characteristics", sortable=True).markdown,
        "## Every value and its source\n",
        "One row per trial, characteristic and source row of `study_characteristics.csv`: the value, the text as "
        "the source prints it and where it is (an extraction row, a line of the review, a row of the Metapsy "
        "database, or the address of a report found by a search). Select a column heading to sort.\n",
        tables.frame_table(detail, caption="Every value of the study characteristics and its source",
                           name="tbl-characteristic-sources", sortable=True).markdown,
    ])


def _n(row) -> str:
    n = row.get("n_total")
    if pd.isna(n):
        return "sources disagree" if row.get("n_basis") == "disagreement" else "not reported"
    arms = row.get("n_per_arm")
    return f"{int(n)}" + (f" ({arms})" if isinstance(arms, str) else "")


def _label(value, column: str) -> str:
    return "not classified" if value is None or (isinstance(value, float) and pd.isna(value)) else label_of(value, column)
