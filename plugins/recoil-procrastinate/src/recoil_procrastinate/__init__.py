"""recoil-procrastinate: many render nodes work one episode through procrastinate jobs.

Jobs live in the PostgreSQL database the ``postgres`` backend already uses (one source of
truth, no broker); each take a node works is leased and every state write is fenced
(:mod:`recoil_postgres.leases`).
"""

__version__ = "0.1.0"
