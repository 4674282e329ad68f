"""Test modules are imported by their file name (pytest's default import mode, no packages under
tests/), so two test files with one name in different folders break collection of the whole
run: each name must be unique across tests/."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique_across_the_test_folders() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and p.name != "__init__.py")
    assert [n for n, c in names.items() if c > 1] == []
