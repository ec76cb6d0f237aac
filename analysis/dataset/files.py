"""Writing files safely: a reader (or a crash) never sees half a file or half a directory."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def atomic_write(path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` through a temporary file and one rename."""
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_if_changed(path, content: str | bytes) -> bool:
    """Write ``content`` unless the file already holds it; returns True when written.

    An unchanged file keeps its modification time, so that tools watching modification times,
    such as Sphinx, re-read only what changed.
    """
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return False
    atomic_write(path, data)
    return True


def swap_in(new: Path, target: Path) -> None:
    """Replace directory ``target`` by ``new`` with two renames (never a half-copied tree)."""
    old = target.with_name("." + target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    if old.exists():
        shutil.rmtree(old)
