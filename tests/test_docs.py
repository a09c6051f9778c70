"""Documentation: every relative reference in docs/*.md resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: markdown link targets and bare relative paths such as ../shared/DESIGN.md
_LINK = re.compile(r"\]\(([^)#\s]+)[^)]*\)")
_RELATIVE = re.compile(r"(?<![\w/.])(\.\.?/[\w./-]+)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_references_stay_in_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    targets = {t for t in _LINK.findall(text) if "://" not in t} | set(_RELATIVE.findall(text))
    for target in targets:
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name}: {target} points outside the repository"
        assert path.exists(), f"{doc.name}: {target} does not exist"


def test_docs_exist() -> None:
    assert DOCS, "docs/*.md not found"
