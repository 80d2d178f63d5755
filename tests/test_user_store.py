"""One store test suite, run against SQLite and against the machine's real PostgreSQL."""

import os
import uuid

import pytest
import sqlalchemy

from auth.store import UserStore, make_engine
from paleon.errors import InvalidRequest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_store():
    """A schema of its own in the test database, dropped afterwards."""
    schema = "paleon_" + uuid.uuid4().hex[:10]
    try:
        admin = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise  # CI has PostgreSQL: the suite must run against it
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} does not answer ({exc.orig})")
    engine = sqlalchemy.create_engine(
        POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}
    )
    yield UserStore(engine)
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield UserStore(make_engine(f"sqlite:///{tmp_path / 'users.db'}"))
    else:
        yield from _postgres_store()


def test_emails_compare_case_insensitively_and_names_are_unique(store):
    user = store.create(email="Mary.Anning@Example.com", username="mary", password_hash="h")
    assert store.by_email("mary.anning@example.COM").id == user.id
    with pytest.raises(InvalidRequest, match="already registered"):
        store.create(email="MARY.ANNING@example.com", username="other", password_hash="h")
    with pytest.raises(InvalidRequest, match="already registered"):
        store.create(email="other@example.com", username="MARY", password_hash="h")


def test_profiles_have_a_tier(store):
    user = store.create(email="a@example.com", username="alpha", password_hash="h")
    assert store.by_id(user.id).tier == "free"
    assert store.set_tier("A@example.com", "pro").tier == "pro"
    assert store.by_id(user.id).tier == "pro"
    with pytest.raises(InvalidRequest, match="Unknown tier"):
        store.set_tier("a@example.com", "platinum")
    with pytest.raises(InvalidRequest, match="No user"):
        store.set_tier("nobody@example.com", "pro")


def test_listing_and_hostile_strings_are_data(store):
    hostile = "x'); DROP TABLE users; --"
    store.create(email="b@example.com", username="beta", password_hash=hostile)
    assert store.by_email(hostile) is None
    assert store.by_id(hostile) is None
    assert [user.username for user in store.all()] == ["beta"]
    store.ping()


def test_schema_creation_is_idempotent(store):
    UserStore(store.engine)  # a second replica starting against the same database
    assert store.all() == []


def test_users_cli_lists_and_sets_tiers(tmp_path):
    from tests.support import run_cli

    url = f"sqlite:///{tmp_path / 'users.db'}"
    UserStore(make_engine(url)).create(email="Cli@Example.com", username="cli",
                                       password_hash="h")
    env = {"DATABASE_URL": url}
    changed = run_cli("users", "set-tier", "cli@example.com", "enterprise", env=env)
    assert changed.returncode == 0 and "enterprise" in changed.stdout
    listed = run_cli("users", "list", env=env)
    assert listed.returncode == 0
    assert listed.stdout.split("\t")[:3] == ["cli@example.com", "cli", "enterprise"]
    unknown = run_cli("users", "set-tier", "ghost@example.com", "pro", env=env)
    assert unknown.returncode == 1 and "No user" in unknown.stderr
    bad_tier = run_cli("users", "set-tier", "cli@example.com", "platinum", env=env)
    assert bad_tier.returncode == 2 and "invalid choice" in bad_tier.stderr


def test_migrations_match_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from auth.migrate import head
    from auth.models import Base

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == head()
        assert compare_metadata(context, Base.metadata) == []


def test_a_database_made_before_migrations_is_adopted(tmp_path):
    from auth.models import ApiKey, Base, Identity, User

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    # How the schema was made before Alembic: the tables of that time, the first revision's.
    Base.metadata.create_all(engine, tables=[User.__table__, ApiKey.__table__,
                                             Identity.__table__])
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE users DROP COLUMN role")  # came in 0003
        connection.exec_driver_sql(
            "INSERT INTO users (id, email, username, tier, provider, created_at) "
            "VALUES ('u1', 'old@example.com', 'old', 'pro', 'email', '2026-01-01')")
    store = UserStore(engine)
    assert store.by_email("old@example.com").tier == "pro"
    UserStore(engine)  # and again: nothing left to do


def test_users_cli_sets_roles(tmp_path):
    from tests.support import run_cli

    url = f"sqlite:///{tmp_path / 'users.db'}"
    store = UserStore(make_engine(url))
    store.create(email="rev@example.com", username="rev", password_hash="h")
    assert store.by_email("rev@example.com").role == "user"
    env = {"DATABASE_URL": url}
    changed = run_cli("users", "set-role", "rev@example.com", "reviewer", env=env)
    assert changed.returncode == 0 and "reviewer" in changed.stdout
    assert store.by_email("rev@example.com").role == "reviewer"
    assert run_cli("users", "list", env=env).stdout.split("\t")[3] == "reviewer"
    bad = run_cli("users", "set-role", "rev@example.com", "king", env=env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    with pytest.raises(InvalidRequest):
        store.set_role("rev@example.com", "king")


def test_accounts_made_before_roles_become_users(tmp_path):
    from alembic import command

    from auth.migrate import _config

    engine = make_engine(f"sqlite:///{tmp_path / 'v2.db'}")
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.exec_driver_sql(
            "INSERT INTO users (id, email, username, tier, provider, created_at) "
            "VALUES ('u2', 'v2@example.com', 'v2', 'free', 'email', '2026-06-01')")
    store = UserStore(engine)  # migrates to the head: roles and feedback
    assert store.by_email("v2@example.com").role == "user"
