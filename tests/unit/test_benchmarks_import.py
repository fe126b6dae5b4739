"""Every benchmark still imports: the suite never runs them (nor type-checks them), so a
module moved or renamed in `src` would otherwise break one unseen until someone runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT_ALL = """
import importlib, sys, traceback
failed = 0
for name in sys.argv[1:]:
    try:
        importlib.import_module(f"benchmarks.{name}")
    except Exception:
        failed += 1
        print(f"benchmarks/{name}.py:", traceback.format_exc(limit=1), file=sys.stderr)
sys.exit(failed)
"""


def test_every_benchmark_imports() -> None:
    names = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")
    assert "pay" in names
    # in a child, from the project root as the benchmarks are run: not this process's imports
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
