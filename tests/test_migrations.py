"""The Alembic migrations build exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from homeoffice.migrations import current_revision, upgrade
from homeoffice.models import metadata


def _diff(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_migrations_match_models_on_sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert current_revision(engine) is not None
    assert _diff(engine) == []


@pytest.mark.postgres
def test_migrations_match_models_on_postgres(postgres_server):
    postgres_server.create_database("migration_check")
    engine = create_engine(postgres_server.url("migration_check"))
    try:
        upgrade(engine)
        assert _diff(engine) == []
    finally:
        engine.dispose()
        postgres_server.drop_database("migration_check")


def test_init_db_is_idempotent(tmp_path, monkeypatch):
    from tests.conftest import make_app

    monkeypatch.setenv("HOMEOFFICE_INSTANCE_PATH", str(tmp_path))
    app = make_app(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0 and "from empty to revision" in first.output
    second = runner.invoke(args=["init-db"])
    assert second.exit_code == 0 and "up to date" in second.output
