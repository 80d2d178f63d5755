"""The user store's schema, created or migrated on start (Alembic, `auth/migrations`)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = 727_501  # any constant: serialises replicas migrating one PostgreSQL database


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    current = ScriptDirectory.from_config(_config()).get_current_head()
    if current is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return current


def migrate(engine: Engine) -> None:
    """Bring the database to the latest revision; safe to call from every replica."""
    config = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "users" in tables and "alembic_version" not in tables:
            # Made by create_all before migrations existed: the first revision's tables.
            command.stamp(config, "0001")
        command.upgrade(config, "head")
