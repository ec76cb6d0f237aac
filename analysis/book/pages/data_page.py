"""Generated parts of the Data chapter: the schema, the downloads, the curation log, how to cite."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.book.pages.common import md_table
from analysis.chapter.markup import md_code
from analysis.chapter.render import md_escape

#: A file path that can stand in a {download} role as written (no role or link syntax in it).
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")


def schema_md(package: dict) -> str:
    """One table per resource of the data package: its columns, types, rules and descriptions."""
    parts = []
    for res in package.get("resources", []):
        schema = res.get("schema", {})
        parts.append(f"### {md_code(res.get('path', res.get('name')))}\n")
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
            rows.append([md_code(f["name"]), md_escape(f.get("type", "")), "; ".join(rule),
                         md_escape(f.get("description", ""))])
        if rows:
            name = str(res.get("name", res.get("path", "")))
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            parts.append(md_table(["column", "type", "rules", "description"], rows,
                                  caption=f"Columns of {md_escape(res.get('path', name))}",
                                  name=f"tbl-schema-{slug}") + "\n")
    return "\n".join(parts)


def downloads_md(package: dict, data_dir: Path) -> str:
    """The table of the dataset's files, each a download link."""
    rows = []
    for res in package.get("resources", []):
        path = res.get("path")
        if path and (data_dir / path).exists():
            # downloads.md is included by chapters/data.md: paths are relative to chapters/; role
            # text is not unescaped, so a path goes in as written (or as plain text if it cannot)
            link = f"{{download}}`{path} <../data/{path}>`" if _PLAIN_PATH.match(path) else md_escape(path)
            rows.append([link, md_escape(res.get("title", res.get("name", "")))])
    rows.append(["{download}`datapackage.json <../data/datapackage.json>`", "schema (Frictionless Data Package)"])
    return md_table(["file", "content"], rows, caption="Files of the dataset", name="tbl-data-files") + "\n"


def curation_md(ds) -> str:
    """The curation log as a table (or a sentence when it is empty)."""
    cur = ds.curation
    if cur.empty:
        return "The curation log is empty.\n"
    rows = [[md_escape(r["study_id"]), md_escape(r.get("outcome_id", "") if not pd.isna(r.get("outcome_id")) else "all"),
             md_escape(r["action"]), md_escape(r["reason"])] for _, r in cur.iterrows()]
    return "### Curation log\n\n" + md_table(["trial", "outcome row", "action", "reason"], rows,
                                               caption="Curation log: recorded corrections, exclusions and flags",
                                               name="tbl-curation-log") + "\n"


def citation_md(ds, package: dict) -> str:
    """How to cite the dataset, by its version."""
    title = package.get("title", "Peer support for mental health: living systematic review dataset")
    return (f"> The peer-support living review team. *{md_escape(title)}*, dataset version "
            f"{md_escape(ds.version)}. Includes data from the Metapsy peer-support database "
            f"(doi:10.5281/zenodo.7687898, ODC-By 1.0).\n")
