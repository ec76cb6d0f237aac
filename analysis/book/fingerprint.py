"""Fingerprints: what a chapter's output depends on, hashed, so the build re-runs only stale chapters.

A domain chapter depends on its data slice, the chapter template, its parameters and the code it
can run: the layers up to and including ``chapter`` (see :data:`analysis.LAYERS`). A change to the
build, the generated pages or the commands does not make a chapter stale; a change to the engine,
the dataset layer, the figures or the chapter layer re-executes every chapter.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from analysis import LAYERS

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def sha(*parts: bytes) -> str:
    """SHA-256 of the parts, each prefixed by its length (so that parts cannot run into each other)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _sources(layers) -> list[Path]:
    paths = [PACKAGE_DIR / "__init__.py"]
    for layer in layers:
        paths += sorted((PACKAGE_DIR / layer).rglob("*.py"))
    return paths


def code_fingerprint(layers=LAYERS) -> str:
    """Hash of the package sources of ``layers`` (path and content of every module)."""
    parts: list[bytes] = []
    for path in _sources(layers):
        parts.append(path.relative_to(PACKAGE_DIR).as_posix().encode())
        parts.append(path.read_bytes())
    return sha(*parts)


def chapter_code_fingerprint() -> str:
    """Hash of the code a chapter can run: the layers up to and including ``chapter``."""
    return code_fingerprint(LAYERS[:LAYERS.index("chapter") + 1])


def domain_fingerprint(slice_bytes: bytes, template_bytes: bytes, code_fp: str, params: dict) -> str:
    """Fingerprint of one chapter: data slice + template + code + parameters."""
    params_bytes = json.dumps(params, sort_keys=True).encode()
    return sha(slice_bytes, template_bytes, code_fp.encode(), params_bytes)


def notebook_fingerprint(path: Path) -> str | None:
    """The fingerprint an executed chapter notebook records (a papermill parameter), or None."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return nb.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("fingerprint")


#: Files of a dataset directory that are bookkeeping, not data: a release rewrites them.
RELEASE_FILES = {"release.json", "CHANGELOG.md"}


def data_fingerprint(data_dir) -> str:
    """Hash of everything in a dataset directory that results depend on.

    Every file but the release bookkeeping is hashed, with ``datapackage.json`` read without its
    ``version`` and ``updated`` (which a release sets). The build records it with its results; a
    release refuses results of other data.
    """
    data_dir = Path(data_dir)
    parts: list[bytes] = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        name = path.relative_to(data_dir).as_posix()
        if name in RELEASE_FILES:
            continue
        content = path.read_bytes()
        if name == "datapackage.json":
            package = json.loads(content)
            package.pop("version", None)
            package.pop("updated", None)
            content = json.dumps(package, sort_keys=True).encode()
        parts += [name.encode(), content]
    return sha(*parts)
