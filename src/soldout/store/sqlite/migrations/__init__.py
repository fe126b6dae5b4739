"""Schema migrations (Alembic), applied on every start: `upgrade(path)`."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["upgrade"]

HERE = Path(__file__).resolve().parent


def alembic_config(db_path: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db_path}")
    return config


def upgrade(db_path: Path) -> None:
    """Bring the database at `db_path` to the newest schema (creating it if needed)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command.upgrade(alembic_config(db_path), "head")
