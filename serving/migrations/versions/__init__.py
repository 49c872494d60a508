"""Alembic revision files of the serving database, applied in order by ``storage.upgrade``."""
