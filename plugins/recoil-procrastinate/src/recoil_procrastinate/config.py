"""A render node's settings, read once from the environment at the edge."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

QUEUE = "recoil"
"""The procrastinate queue take jobs go to (``recoil worker --queue`` picks others)."""
TASK = "recoil.take"

CRASH_POINTS = (
    "after_claim",
    "after_reservation",
    "after_submitting",
    "after_create",
    "mid_poll",
    "mid_download",
    "before_charge",
)
"""Where ``RECOIL_WORKER_CRASH_AT`` makes a worker exit at once (``os._exit``), for tests
of what a killed node leaves: after its claim; after the take's money is reserved in the
shared budget; after ``submitting`` is written (before the
create); after the create answered, before its job id is written; after the job id is
written (while the job is polled); while the job's output is downloaded (half its bytes
in the ``.part`` file, not yet placed); before a charge is appended to the ledger."""

CRASH_EXIT = 75


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero: bool = False) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: give a number of seconds") from None
    if not (value >= 0 if zero else value > 0):
        least = ">= 0" if zero else "> 0"
        raise ValueError(f"{name}={raw!r}: give a number of seconds {least}")
    return value


@attrs.frozen
class NodeSettings:
    """Where the queue and the takes live, and a node's timings."""

    dsn: str
    schema: str
    projects_root: str
    lease_s: float = 30.0
    """How long a claim holds a take without a renewal (renewed every third of it)."""
    heartbeat_s: float = 5.0
    """How often a worker tells procrastinate (and ``render_workers``) it is alive."""
    stalled_s: float = 15.0
    """A worker silent this long is taken as dead: its jobs are retried."""
    poll_s: float = 1.0
    """How often an idle worker looks for jobs that became due (re-deferred ones)."""
    defer_polls: bool = True
    """Between two polls of a running job, let the take go and queue it again for the next
    poll (``schedule_in``) instead of holding a worker slot; ``RECOIL_WORKER_DEFER_POLLS=0``
    keeps polling in the slot."""
    slot_polls_s: float = 2.0
    """With ``defer_polls``: polls stay in the worker slot until the take has waited this
    long (``RECOIL_WORKER_SLOT_POLLS_S``; 0: every poll is queued again). A job that ends
    within it costs one queue job, not one per poll."""
    resend_after_s: float = 60.0
    """A lost create written ``submitting`` less than this long ago is searched for but not
    sent again (its node may be frozen mid-create); the take is looked at again then."""
    crash_at: str | None = None
    pause_at: str | None = None
    """``RECOIL_WORKER_PAUSE_AT=after_submitting``: the worker stops itself (SIGSTOP)
    after writing ``submitting``, before its create (tests of a node frozen there)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], projects_root: str) -> NodeSettings:
        from recoil_postgres.config import dsn_from_env, schema_from_env

        crash_at = env.get("RECOIL_WORKER_CRASH_AT") or None
        if crash_at is not None and crash_at not in CRASH_POINTS:
            raise ValueError(
                f"RECOIL_WORKER_CRASH_AT={crash_at!r}: one of {', '.join(CRASH_POINTS)}"
            )
        return cls(
            dsn=dsn_from_env(env),
            schema=schema_from_env(env),
            projects_root=projects_root,
            lease_s=_seconds(env, "RECOIL_WORKER_LEASE_S", 30.0),
            heartbeat_s=_seconds(env, "RECOIL_WORKER_HEARTBEAT_S", 5.0),
            stalled_s=_seconds(env, "RECOIL_WORKER_STALLED_S", 15.0),
            poll_s=_seconds(env, "RECOIL_WORKER_POLL_S", 1.0),
            defer_polls=env.get("RECOIL_WORKER_DEFER_POLLS", "1").strip() not in ("0", "false"),
            slot_polls_s=_seconds(env, "RECOIL_WORKER_SLOT_POLLS_S", 2.0, zero=True),
            resend_after_s=_seconds(env, "RECOIL_WORKER_RESEND_AFTER_S", 60.0),
            crash_at=crash_at,
            pause_at=env.get("RECOIL_WORKER_PAUSE_AT") or None,
        )
