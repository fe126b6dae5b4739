"""Where browser tests put their screenshots: docs/screenshots with SOLDOUT_SCREENSHOTS=1
(to refresh the docs), otherwise a scratch directory, so a test run never changes tracked
files. `shoot(page, "store-launch")` takes a phone and a desktop one, whole pages."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SOLDOUT_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "soldout-screenshots"
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def shoot(page: Any, name: str) -> None:
    """`name`-phone.png and `name`-desktop.png; the page is left at the phone's size."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
