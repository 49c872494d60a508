"""Alembic migrations of the serving database (run by :func:`serving.storage.upgrade`).

A package (not a bare folder) so that ``env.py`` and the revision files are installed
with the wheel; Alembic ignores the ``__init__.py`` files when it scans for revisions.
"""
