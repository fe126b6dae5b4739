"""The project's own files are whole: no merge left half done.

A conflict once landed in a storefront template inside a Jinja comment: the page rendered,
every test of it passed, and every fan's launch page showed the other side's lines as text.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEPT = ("src", "tests", "docs", "benchmarks", ".ci")
MARKER = re.compile(rb"^(<{7}|>{7}|={7})( |$)", re.MULTILINE)


def _files() -> list[Path]:
    found = [p for p in ROOT.glob("*") if p.is_file() and p.suffix in (".md", ".toml", ".py")]
    for folder in KEPT:
        found += [
            p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    return found


def test_no_file_holds_a_merge_conflicts_markers() -> None:
    files = _files()
    assert len(files) > 300  # the walk found the project
    marked = [str(p.relative_to(ROOT)) for p in files if MARKER.search(p.read_bytes())]
    assert marked == []
