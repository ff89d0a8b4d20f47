"""Alembic environment: the schema is ``homeoffice.models.metadata``.

Run through ``flask --app homeoffice init-db`` (or ``homeoffice.migrations.upgrade``),
which passes the database URL; there is no alembic.ini to keep in step.
"""

from alembic import context
from sqlalchemy import create_engine

from homeoffice.models import metadata

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """APScheduler creates and owns its job table; migrations leave it alone."""
    return not (type_ == "table" and name == "apscheduler_jobs")


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can alter tables only by copying them; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
