"""Shared test set-up: where the repository and the material beside it are.

Tests that read material outside the repository (the source reviews' texts and their structured
extractions in ``../shared``) call :func:`shared`, which skips with one stated reason when the
material is absent. ``REVIEW_REQUIRE_SHARED=1`` (set by ``.ci/run`` when the material is there)
turns that skip into a failure, so a wrong path can never silently switch tests off.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REVIEW_SHARED_DIR") or ROOT.parent / "shared")
SHARED_REASON = "needs the source reviews' material (../shared beside the repository)"


def shared(*parts: str) -> Path:
    """``../shared/<parts>``; skips the calling test when it is absent (fails under REVIEW_REQUIRE_SHARED=1)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("REVIEW_REQUIRE_SHARED") == "1":
            pytest.fail(f"{path} is missing, and REVIEW_REQUIRE_SHARED=1 forbids skipping: {SHARED_REASON}")
        pytest.skip(SHARED_REASON)
    return path
