"""Schema migrations of the PostgreSQL store (Alembic, a version tree of its own, separate
from SQLite's): `upgrade(url)`, applied by `PostgresStore.open()` while it holds the
store's lock, so two servers starting at once never migrate the same database together."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

__all__ = ["sqlalchemy_url", "upgrade"]

HERE = Path(__file__).resolve().parent


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` (libpq's form, what soldout is given) for SQLAlchemy's psycopg 3
    dialect. Rendered with its password: it only ever goes to `create_engine`."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (an empty database gets it all)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # The connection, not the URL, goes to env.py: Alembic's config is an .ini parser, and
    # a password may hold a `%` it would read as interpolation.
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
