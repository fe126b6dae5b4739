#!/usr/bin/env python3
"""Bootstrap and run soldout from a fresh clone with nothing but Python 3.11+.

    python3 dev.py demo [ARGS...]   # seed a demo launch and serve it (embedded SQLite)
    python3 dev.py test [PYTEST ARGS...]  # lint, type-check and run the whole test suite
                                          # (in parallel: `-n 0` runs it in one process)
    python3 dev.py bench [ARGS...]  # run the wrk benchmark of the claim hot path
    python3 dev.py soldout [ARGS...]  # any soldout command inside the project environment

The first call creates `.venv/` beside this file and installs the project into it; later
calls reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".soldout-installed"


def _run(*cmd: str | Path) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an old Python
        sys.exit(f"soldout needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing soldout and its dependencies into .venv ...", flush=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(*pip, "--upgrade", "pip")
    _run(*pip, "-e", ".[dev]")
    STAMP.write_text(wanted)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "test", "bench", "soldout"}:
        sys.exit(__doc__)
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        _run(BIN / "soldout", "demo", *rest)
    elif command == "soldout":
        _run(BIN / "soldout", *rest)
    elif command == "bench":
        _run(BIN / "python", "-m", "benchmarks.claims_wrk", *rest)
    else:
        _run(BIN / "ruff", "check", "src", "tests", "benchmarks", "dev.py")
        _run(BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "dev.py")
        _run(BIN / "mypy")
        # Two processes more than cores, two at least: most tests wait on a server, a
        # browser or a database, and the spare processes keep the cores busy meanwhile (on
        # 2 cores, with 3 processes the suite took 11:42, with 4 10:52, the cores 1.67
        # busy; each test file runs whole in one process, so its module fixtures start once).
        workers = str(max(2, (os.cpu_count() or 1) + 2))
        _run(BIN / "python", "-m", "pytest", "-n", workers, "--dist", "loadfile", *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
