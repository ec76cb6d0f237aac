"""Generated parts of the Data chapter: the schema, the downloads, the curation log, how to cite."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.book.pages.common import md_table
from analysis.chapter.render import md_escape


def schema_md(package: dict) -> str:
    parts = []
    for res in package.get("resources", []):
        schema = res.get("schema", {})
        parts.append(f"### `{md_escape(res.get('path', res.get('name')))}`\n")
        if res.get("description"):
            parts.append(md_escape(res["description"]) + "\n")
        rows = []
        for f in schema.get("fields", []):
            c = f.get("constraints", {})
            rule = []
            if c.get("required"):
                rule.append("required")
            if "enum" in c:
                rule.append("one of " + ", ".join(md_escape(v) for v in c["enum"]))
            if "minimum" in c:
                rule.append(f"≥ {c['minimum']}")
            if "maximum" in c:
                rule.append(f"≤ {c['maximum']}")
            rows.append([f"`{md_escape(f['name'])}`", md_escape(f.get("type", "")), "; ".join(rule),
                         md_escape(f.get("description", ""))])
        if rows:
            parts.append(md_table(["column", "type", "rules", "description"], rows) + "\n")
    return "\n".join(parts)


def downloads_md(package: dict, data_dir: Path) -> str:
    rows = []
    for res in package.get("resources", []):
        path = res.get("path")
        if path and (data_dir / path).exists():
            # downloads.md is included by chapters/data.md: paths are relative to chapters/
            rows.append([f"{{download}}`{md_escape(path)} <../data/{path}>`", md_escape(res.get("title", res.get("name", "")))])
    rows.append(["{download}`datapackage.json <../data/datapackage.json>`", "schema (Frictionless Data Package)"])
    return md_table(["file", "content"], rows) + "\n"


def curation_md(ds) -> str:
    cur = ds.curation
    if cur.empty:
        return "The curation log is empty.\n"
    rows = [[md_escape(r["study_id"]), md_escape(r.get("outcome_id", "") if not pd.isna(r.get("outcome_id")) else "all"),
             md_escape(r["action"]), md_escape(r["reason"])] for _, r in cur.iterrows()]
    return "### Curation log\n\n" + md_table(["trial", "outcome row", "action", "reason"], rows) + "\n"


def citation_md(ds, package: dict) -> str:
    title = package.get("title", "Peer support for mental health: living systematic review dataset")
    return (f"> The peer-support living review team. *{md_escape(title)}*, dataset version "
            f"{md_escape(ds.version)}. Includes data from the Metapsy peer-support database "
            f"(doi:10.5281/zenodo.7687898, ODC-By 1.0).\n")
