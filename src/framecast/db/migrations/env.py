"""Alembic environment for Framecast's schema.

Framecast runs migrations itself at start (``framecast.db.database.upgrade_schema``), passing an
open connection in ``config.attributes["connection"]`` inside a transaction that is already
serialized across processes. Run by hand with the bundled ``alembic.ini``::

    FRAMECAST_DATABASE_URL=sqlite:///framecast-data/framecast.db \\
        alembic -c src/framecast/db/migrations/alembic.ini upgrade head
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from framecast.db.database import create_database_engine
from framecast.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(url=os.environ["FRAMECAST_DATABASE_URL"], target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_database_engine(os.environ["FRAMECAST_DATABASE_URL"])
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
