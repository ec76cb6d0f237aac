"""benchmarks/RESULTS.md: replace one ``## <heading>`` section, keeping every other section.

Imported by the benchmark scripts (run as ``python benchmarks/<script>.py``, whose directory is
then on ``sys.path``).
"""
from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def replace_section(heading: str, body: str, path: Path = RESULTS) -> None:
    """Write ``## heading``, a blank line and ``body`` in place of the section of that heading (up
    to the next ``## `` line), or at the end of the file when there is none."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else ["# Benchmarks\n"]
    section = [f"## {heading}\n", "\n", body.rstrip("\n") + "\n", "\n"]
    title = f"## {heading}"
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == title), None)
    if start is None:
        lines = [*lines[:-1], lines[-1].rstrip("\n") + "\n", "\n", *section] if lines else section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines = lines[:start] + section + lines[end:]
    path.write_text("".join(lines).rstrip("\n") + "\n", encoding="utf-8")
