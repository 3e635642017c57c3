"""Recoil persistence backend on PostgreSQL: the persistence protocol, held by a database.

Select it with ``RECOIL_BACKEND=postgres``; connect with ``RECOIL_POSTGRES_DSN`` and keep the
tables in the schema named by ``RECOIL_POSTGRES_SCHEMA`` (default ``recoil``). Renders stay
files under ``RECOIL_PROJECTS_ROOT``. See ``docs/persistence-backends.md``.
"""
