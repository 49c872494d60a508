"""Alembic environment of the serving database.

Run programmatically by :func:`serving.storage.upgrade`, which opens the transaction,
takes the migration lock and hands the connection over in ``config.attributes``; there is
no ``alembic.ini``. On PostgreSQL the version table is put in the connection's current
schema (the first one on ``search_path``), next to the tables it describes, so that several
deployments (or test sessions) can share one database in separate schemas.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from serving.tables import Base


def _configure_and_run(connection: Connection) -> None:
    """Run the pending revisions on ``connection`` inside the caller's transaction."""
    version_table_schema: str | None = None
    if connection.dialect.name == "postgresql":
        version_table_schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
        if version_table_schema is None:
            raise RuntimeError(
                "PostgreSQL has no current schema: the first schema on search_path does not "
                "exist; create it before migrating"
            )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=version_table_schema,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    # Invoked by the alembic command line with a URL: same engine setup, same lock.
    from serving.storage import make_engine, migration_transaction

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection in config.attributes and no sqlalchemy.url set")
    engine = make_engine(url)
    try:
        with migration_transaction(engine) as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
