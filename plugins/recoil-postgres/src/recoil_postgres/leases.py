"""Take leases and fenced writes, for many processes (render nodes) working one episode.

A node *claims* a take before it works it: the claim bumps the take's lease ``epoch`` and
holds the lease for ``lease_s`` seconds (renewed while the node works). Every write of the
take's state from a node is then *fenced*: one transaction that compare-and-sets the lease
row on (epoch, expected state) and only then writes the scene, so a node that lost its
lease (paused past it, partitioned, killed and restarted) writes nothing. Since a create
is sent only after ``submitting`` is written, a fenced-out node never starts a paid call.

Tables (in the backend's schema, created on first use; layout version
``LEASE_STORE_VERSION`` in ``lease_schema_version``, kept apart from the backend's own
``schema_version`` so the two layouts change independently)::

    take_leases     (project, episode, take_id) -> scene_id, beat_id, worker, epoch,
                    state (the take's last fenced state), expires_at
    lease_refusals  every fenced write refused: which take, worker and epoch, and why
    render_workers  worker -> host, pid, started_at, heartbeat_at
    node_runs       (project, episode) -> what nodes need to run its takes (plan, options)
    budgets         (project, episode) -> cap, spent, reserved: the cap nodes share
    budget_holds    (project, episode, take_id) -> what is reserved for that take

Each node works whole beats' takes: a fenced scene write replaces only the beat of the
take it holds in the scene's active document (locked ``FOR UPDATE``), so nodes working
other beats of the same scene never overwrite each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, cast

import attrs
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from recoil_core.api import (
    LEDGER_KIND,
    SCENE_KIND,
    LedgerEntry,
    RecoilError,
    Scene,
    SceneVersionConflictError,
    SchemaVersionError,
    dump_document,
)
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.config import describe
from recoil_postgres.connection import connect
from recoil_postgres.errors import PostgresRefusedError

__all__ = [
    "LEASE_STORE_VERSION",
    "Claim",
    "Claimed",
    "EpisodeBudget",
    "LeaseLostError",
    "Statement",
    "TakeLeases",
    "ensure_lease_tables",
]

Statement = tuple[str, Mapping[str, Any]]
"""A statement template (``{s}``: the schema) and its parameters."""

LEASE_STORE_VERSION = 1
"""Version of the lease tables' layout (independent of the backend's ``STORE_VERSION``)."""

LEASE_DDL = """
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE IF NOT EXISTS {s}.lease_schema_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {s}.take_leases (
    project text NOT NULL,
    episode text NOT NULL,
    take_id text NOT NULL,
    scene_id text NOT NULL,
    beat_id text NOT NULL,
    worker text,
    epoch bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    state text,
    expires_at timestamptz,
    claimed_at timestamptz,
    PRIMARY KEY (project, episode, take_id)
);

CREATE TABLE IF NOT EXISTS {s}.lease_refusals (
    seq bigserial PRIMARY KEY,
    project text NOT NULL,
    episode text NOT NULL,
    take_id text NOT NULL,
    worker text NOT NULL,
    epoch bigint NOT NULL,
    wanted_state text,
    reason text NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {s}.render_workers (
    worker text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {s}.node_runs (
    project text NOT NULL,
    episode text NOT NULL,
    run jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, episode)
);

CREATE TABLE IF NOT EXISTS {s}.budgets (
    project text NOT NULL,
    episode text NOT NULL,
    cap numeric CHECK (cap >= 0),
    spent numeric NOT NULL DEFAULT 0,
    reserved numeric NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (project, episode)
);

CREATE TABLE IF NOT EXISTS {s}.budget_holds (
    project text NOT NULL,
    episode text NOT NULL,
    take_id text NOT NULL,
    amount numeric NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (project, episode, take_id)
);

INSERT INTO {s}.lease_schema_version (singleton, version) VALUES (true, {version})
    ON CONFLICT (singleton) DO NOTHING;
"""

_CLAIM = """
INSERT INTO {s}.take_leases AS l
    (project, episode, take_id, scene_id, beat_id, worker, epoch, claimed_at, expires_at)
VALUES (%(project)s, %(episode)s, %(take_id)s, %(scene_id)s, %(beat_id)s, %(worker)s, 1,
        now(), now() + make_interval(secs => %(lease_s)s))
ON CONFLICT (project, episode, take_id) DO UPDATE
SET epoch = l.epoch + 1, worker = EXCLUDED.worker, claimed_at = EXCLUDED.claimed_at,
    expires_at = EXCLUDED.expires_at
WHERE l.worker IS NULL OR l.worker = EXCLUDED.worker OR l.expires_at < now()
RETURNING l.epoch, l.state,
    (SELECT r.updated_at FROM {s}.node_runs r
     WHERE r.project = l.project AND r.episode = l.episode)
"""
_RELEASE_LEASE = """
UPDATE {s}.take_leases SET worker = NULL, expires_at = NULL
WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
  AND worker = %(worker)s AND epoch = %(epoch)s
RETURNING epoch
"""
_ACTIVE_ROW = """
SELECT v.version, v.revision, v.document
FROM {s}.scenes s JOIN {s}.scene_versions v USING (project, episode, scene_id)
WHERE s.project = %(project)s AND s.episode = %(episode)s AND s.scene_id = %(scene_id)s
  AND v.version = s.active_version
"""
_FENCED_WRITE = """
WITH scene AS (
    SELECT 1 FROM {s}.scenes
    WHERE project = %(project)s AND episode = %(episode)s AND scene_id = %(scene_id)s
      AND active_version = %(version)s
    FOR SHARE
), fence AS (
    UPDATE {s}.take_leases SET state = %(state)s
    WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
      AND worker = %(worker)s AND epoch = %(epoch)s
      AND state IS NOT DISTINCT FROM %(expected)s
      AND EXISTS (SELECT 1 FROM scene)
      AND current_setting('recoil.gate', true) IS DISTINCT FROM 'closed'
    RETURNING 1
), written AS (
    UPDATE {s}.scene_versions v
    SET document = jsonb_set(v.document, ARRAY['beats', (
        SELECT (b.n - 1)::text FROM jsonb_array_elements(v.document -> 'beats')
            WITH ORDINALITY AS b(beat, n)
        WHERE b.beat ->> 'beat_id' = %(beat_id)s LIMIT 1)], %(beat)s)
    WHERE v.project = %(project)s AND v.episode = %(episode)s
      AND v.scene_id = %(scene_id)s AND v.version = %(version)s
      AND EXISTS (SELECT 1 FROM fence)
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(v.document -> 'beats') AS b(beat)
                  WHERE b.beat ->> 'beat_id' = %(beat_id)s)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM scene), EXISTS (SELECT 1 FROM fence),
    EXISTS (SELECT 1 FROM written)
"""
_GATE_OPEN = "SELECT set_config('recoil.gate', 'open', true)"
"""Opens the gates of a fenced write for its transaction (see
:meth:`TakeLeases.write_take_fenced`)."""
_CREATE_KEY_GATE = """
WITH k AS MATERIALIZED (
    SELECT CASE WHEN current_setting('recoil.gate', true) IS DISTINCT FROM 'closed'
        THEN pg_try_advisory_lock(%(key)s) ELSE false END AS got
)
SELECT got, set_config('recoil.gate', CASE WHEN got THEN 'open' ELSE 'closed' END, true)
FROM k
"""
_FENCE = """
UPDATE {s}.take_leases SET state = %(state)s
WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
  AND worker = %(worker)s AND epoch = %(epoch)s AND state IS NOT DISTINCT FROM %(expected)s
RETURNING epoch
"""


class LeaseLostError(RecoilError):
    """A node's write of a take it no longer holds (another node claimed it, or its state
    moved on): nothing was written, and the node stops working the take."""

    exit_code = 4

    def __init__(self, take_id: str, worker: str, epoch: int, reason: str) -> None:
        super().__init__(
            f"take {take_id}: worker {worker} lost its lease (epoch {epoch}): {reason}; "
            "nothing was written, and another worker goes on with the take"
        )
        self.take_id = take_id
        self.worker = worker
        self.epoch = epoch
        self.reason = reason


@attrs.frozen
class Claim:
    """A take a worker holds: writes of its state must name this epoch."""

    project: str
    episode: str
    take_id: str
    scene_id: str
    beat_id: str
    worker: str
    epoch: int
    state: str | None
    """The take's state as last written by a fenced write (None: none yet)."""


@attrs.frozen
class Claimed:
    """A claim, the scene read right after it (None: not read, or not stored), and when
    the episode's node run was last saved (None: never)."""

    claim: Claim
    scene: tuple[Scene, int] | None
    run_saved_at: str | None


def lease_bootstrap_key(schema: str) -> int:
    """The advisory lock key serialising the lease tables' creation in ``schema``."""
    digest = hashlib.sha256(f"recoil-postgres\x00leases\x00{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def ensure_lease_tables(conn: psycopg.Connection[TupleRow], schema: str) -> None:
    """Create the lease tables in ``schema`` unless they exist; refuse a newer layout."""
    with conn.transaction():
        found = _lease_version(conn, schema)
        if found is None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lease_bootstrap_key(schema),))
            found = _lease_version(conn, schema)
        if found is None:
            conn.execute(
                sql.SQL(LEASE_DDL).format(
                    s=sql.Identifier(schema), version=sql.Literal(LEASE_STORE_VERSION)
                )
            )
            found = LEASE_STORE_VERSION
    if found > LEASE_STORE_VERSION:
        raise SchemaVersionError(
            f"PostgreSQL schema {schema!r}: lease table layout version {found} is newer than "
            f"this recoil-postgres understands ({LEASE_STORE_VERSION}); upgrade recoil-postgres"
        )


def _lease_version(conn: psycopg.Connection[TupleRow], schema: str) -> int | None:
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".lease_schema_version',)
    ).fetchone()
    if row is None or not row[0]:
        return None
    query = sql.SQL("SELECT version FROM {} WHERE singleton").format(
        sql.Identifier(schema, "lease_schema_version")
    )
    version = conn.execute(query).fetchone()
    return None if version is None else cast(int, version[0])


class TakeLeases:
    """Claims, renewals and fenced writes of takes, through one :class:`PostgresBackend`
    (its connection and schema; each call one short transaction)."""

    def __init__(self, backend: PostgresBackend) -> None:
        self.backend = backend
        self._ready = False
        self._auto: psycopg.Connection[TupleRow] | None = None
        self._auto_mutex = threading.Lock()

    def close(self) -> None:
        """Close the connection of single statements (the backend closes its own)."""
        with self._auto_mutex:
            conn, self._auto = self._auto, None
        if conn is not None:
            conn.close()

    @contextlib.contextmanager
    def _statements(self) -> Iterator[psycopg.Connection[TupleRow]]:
        """An autocommit connection of this object's own, for operations that are one
        statement (atomic by themselves: no BEGIN and COMMIT round trips) or a pipeline
        of them (sent together, answered together)."""
        self._tables()
        with self._auto_mutex:
            conn = self._auto
            if conn is None or conn.closed:
                conn = self._auto = connect(self.backend._dsn, autocommit=True)
            try:
                yield conn
            except psycopg.OperationalError as exc:
                if conn.closed:
                    self._auto = None
                raise self.backend._failure(exc) from None
            except psycopg.Error as exc:
                raise PostgresRefusedError(
                    f"PostgreSQL refused the operation in schema {self.backend.schema!r}: "
                    f"{describe(exc, self.backend._dsn)} Nothing was written."
                ) from None

    def _one(self, template: str, params: Mapping[str, Any]) -> TupleRow | None:
        """One statement on the autocommit connection, its first row."""
        with self._statements() as conn:
            cursor = conn.execute(self.backend._q(template), params)
            return cursor.fetchone() if cursor.description is not None else None

    def together(self, *statements: Statement) -> list[TupleRow | None]:
        """``statements`` sent in one pipeline (one round trip) and run in order in one
        implicit transaction, committed at the pipeline's end: all of them or, when one
        fails, none (the error is raised). Their first rows."""
        if len(statements) == 1:
            return [self._one(*statements[0])]
        with self._statements() as conn:
            with conn.pipeline():
                cursors = [conn.execute(self.backend._q(t), p) for t, p in statements]
            return [c.fetchone() if c.description is not None else None for c in cursors]

    def release_statement(self, claim: Claim) -> Statement:
        """:meth:`release` as a statement for :meth:`together`."""
        return (_RELEASE_LEASE, _claim_params(claim))

    def _tables(self) -> None:
        if not self._ready:
            with self.backend._mutex:
                conn = self.backend._connection()  # the backend's own tables first
                ensure_lease_tables(conn, self.backend.schema)
            self._ready = True

    # ------------------------------------------------------------------ workers

    def heartbeat(self, worker: str, *, host: str, pid: int) -> None:
        """Say the worker is alive (``render_workers``; shown by status queries)."""
        self._one(*self.heartbeat_statement(worker, host=host, pid=pid))

    @staticmethod
    def heartbeat_statement(worker: str, *, host: str, pid: int) -> Statement:
        """:meth:`heartbeat` as a statement to send with others (a claim's pipeline)."""
        return (
            "INSERT INTO {s}.render_workers (worker, host, pid) "
            "VALUES (%(worker)s, %(host)s, %(pid)s) ON CONFLICT (worker) "
            "DO UPDATE SET heartbeat_at = now()",
            {"worker": worker, "host": host, "pid": pid},
        )

    def save_node_run(self, project: str, episode: str, run: Mapping[str, Any]) -> None:
        """Keep what render nodes need to run the episode's takes (the latest run's)."""
        self._one(
            "INSERT INTO {s}.node_runs (project, episode, run) "
            "VALUES (%(project)s, %(episode)s, %(run)s) ON CONFLICT (project, episode) "
            "DO UPDATE SET run = EXCLUDED.run, updated_at = now()",
            {"project": project, "episode": episode, "run": Jsonb(dict(run))},
        )

    def load_node_run(self, project: str, episode: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT run FROM {s}.node_runs WHERE project = %(project)s AND episode = %(episode)s",
            {"project": project, "episode": episode},
        )
        return None if row is None else cast(dict[str, Any], row[0])

    def workers(self) -> list[tuple[str, str, int, float]]:
        """``(worker, host, pid, seconds since its heartbeat)`` of every worker seen."""
        self._tables()
        with self.backend._transaction() as conn:
            rows = conn.execute(
                self.backend._q(
                    "SELECT worker, host, pid, "
                    "EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 "
                    "FROM {s}.render_workers ORDER BY worker"
                )
            ).fetchall()
        return [(str(w), str(h), int(p), float(s)) for w, h, p, s in rows]

    def lease_counts(self, episode: tuple[str, str] | None = None) -> dict[str, int]:
        """Takes by lease: ``held`` (a live lease), ``expired`` (held by a worker whose
        lease ran out) and ``free``; ``episode``: ``(project, episode)``'s takes only."""
        self._tables()
        with self.backend._transaction() as conn:
            rows = conn.execute(
                self.backend._q(
                    "SELECT CASE WHEN worker IS NULL THEN 'free' "
                    "WHEN expires_at < now() THEN 'expired' ELSE 'held' END, count(*) "
                    "FROM {s}.take_leases" + _EPISODE_FILTER + " GROUP BY 1"
                ),
                _episode_params(episode),
            ).fetchall()
        return {str(kind): int(n) for kind, n in rows}

    def held_by(self, episode: tuple[str, str] | None = None) -> dict[str, int]:
        """Live leases per worker (``episode``: of ``(project, episode)``'s takes only)."""
        self._tables()
        with self.backend._transaction() as conn:
            rows = conn.execute(
                self.backend._q(
                    "SELECT worker, count(*) FROM {s}.take_leases" + _EPISODE_FILTER + " "
                    "AND worker IS NOT NULL AND expires_at >= now() GROUP BY worker"
                ),
                _episode_params(episode),
            ).fetchall()
        return {str(worker): int(n) for worker, n in rows}

    def has_node_run(self, project: str, episode: str) -> bool:
        """Whether the episode was handed to render nodes (``recoil run --executor``)."""
        row = self._one(
            "SELECT 1 FROM {s}.node_runs WHERE project = %(project)s AND episode = %(episode)s",
            {"project": project, "episode": episode},
        )
        return row is not None

    def leave(self, worker: str) -> None:
        """The worker stopped cleanly: it is no longer listed."""
        self._one("DELETE FROM {s}.render_workers WHERE worker = %(worker)s", {"worker": worker})

    # ------------------------------------------------------------------ leases

    def claim_take(
        self,
        project: str,
        episode: str,
        take_id: str,
        *,
        scene_id: str,
        beat_id: str,
        worker: str,
        lease_s: float,
    ) -> Claim | None:
        """Hold the take for ``lease_s`` seconds under a new epoch; None while another
        worker's lease on it has not expired (see :meth:`lease_left`)."""
        found = self.claim_and_load(
            project,
            episode,
            take_id,
            scene_id=scene_id,
            beat_id=beat_id,
            worker=worker,
            lease_s=lease_s,
            load=False,
        )
        return None if found is None else found.claim

    def claim_and_load(
        self,
        project: str,
        episode: str,
        take_id: str,
        *,
        scene_id: str,
        beat_id: str,
        worker: str,
        lease_s: float,
        load: bool = True,
        also: tuple[Statement, ...] = (),
    ) -> Claimed | None:
        """:meth:`claim_take`, and with ``load`` the scene's active version read right
        after the claim (two statements sent together: one round trip; the read sees
        every write committed before the claim, as a read after it would). Also returns
        when the episode's node run was last saved (to keep a copy of it). ``also``:
        statements sent after those in the same round trip (a worker's heartbeat)."""
        params = {
            "project": project,
            "episode": episode,
            "take_id": take_id,
            "scene_id": scene_id,
            "beat_id": beat_id,
            "worker": worker,
            "lease_s": lease_s,
        }
        q = self.backend._q
        with self._statements() as conn:
            if load or also:
                with conn.pipeline():
                    claimed = conn.execute(q(_CLAIM), params)
                    active = conn.execute(q(_ACTIVE_ROW), params) if load else None
                    for template, values in also:
                        conn.execute(q(template), values)
                row = claimed.fetchone()
                scene_row = active.fetchone() if active is not None else None
            else:
                row, scene_row = conn.execute(q(_CLAIM), params).fetchone(), None
        if row is None:
            return None
        epoch, state, run_saved_at = row
        claim = Claim(project, episode, take_id, scene_id, beat_id, worker, cast(int, epoch), state)
        scene: tuple[Scene, int] | None = None
        if scene_row is not None:
            number, revision, document = scene_row
            key = (project, episode, scene_id, cast(int, number))
            decoded = self.backend._decode_scene(document, key)
            self.backend._remember(key, revision)
            scene = (decoded, key[3])
        return Claimed(claim, scene, None if run_saved_at is None else str(run_saved_at))

    def lease_left(self, project: str, episode: str, take_id: str) -> float:
        """Seconds until the take's current lease expires (0 when it is free)."""
        row = self._one(
            "SELECT GREATEST(0, EXTRACT(EPOCH FROM expires_at - now()))::float8 "
            "FROM {s}.take_leases WHERE project = %(project)s AND episode = %(episode)s "
            "AND take_id = %(take_id)s AND worker IS NOT NULL",
            {"project": project, "episode": episode, "take_id": take_id},
        )
        return 0.0 if row is None or row[0] is None else float(row[0])

    def renew(self, claim: Claim, lease_s: float) -> bool:
        """Extend the lease by ``lease_s`` from now; False when it was lost (another epoch)."""
        row = self._one(
            "UPDATE {s}.take_leases SET expires_at = now() + make_interval(secs => %(lease_s)s) "
            "WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s "
            "AND worker = %(worker)s AND epoch = %(epoch)s RETURNING epoch",
            {**_claim_params(claim), "lease_s": lease_s},
        )
        return row is not None

    def release(self, claim: Claim) -> None:
        """Give the take up (it stays at its epoch; the next claim bumps it)."""
        self._one(*self.release_statement(claim))

    def _why(self, claim: Claim) -> str:
        row = self._one(
            "SELECT worker, epoch, state FROM {s}.take_leases WHERE project = %(project)s "
            "AND episode = %(episode)s AND take_id = %(take_id)s",
            _claim_params(claim),
        )
        if row is None:
            return "the take has no lease"
        worker, epoch, state = row
        if epoch != claim.epoch or worker != claim.worker:
            return f"{worker or 'nobody'} holds it now at epoch {epoch}"
        return f"its state moved on to {state}"

    def refusals(self, project: str, episode: str) -> int:
        """How many fenced writes of the episode's takes were refused."""
        row = self._one(
            "SELECT count(*) FROM {s}.lease_refusals "
            "WHERE project = %(project)s AND episode = %(episode)s",
            {"project": project, "episode": episode},
        )
        return 0 if row is None else cast(int, row[0])

    # ------------------------------------------------------------------ fenced writes

    def write_take_fenced(
        self,
        claim: Claim,
        scene: Scene,
        *,
        expected_state: str | None,
        new_state: str,
        expected_version: int,
        before: tuple[Statement, ...] = (),
        gates: tuple[Statement, ...] = (),
        after: tuple[Statement, ...] = (),
    ) -> list[bool]:
        """Write the claimed take's beat of ``scene`` if, and only if, the lease row still
        holds ``claim``'s epoch and ``expected_state``: one statement that moves the lease
        row to ``new_state`` and replaces the beat in the active document. Raises
        :class:`LeaseLostError` (recorded in ``lease_refusals``) and writes nothing when the
        lease was lost, :class:`SceneVersionConflictError` when the active version moved.
        ``before``: statements run first, whatever the fence says (a charge: a fact),
        sent with the write in one round trip; ``after``: statements run after it, in the
        same round trip, whatever the fence says (a create key given back). ``gates``:
        statements that must each say yes for the write to be made (a reservation, a
        create key: :meth:`EpisodeBudget.reserve_gate`, :meth:`create_key_gate`), run
        after ``before`` in the same transaction; their answers are returned, and when
        one says no, nothing is written and nothing is raised (the caller reads why from
        the answers)."""
        ours = dump_document(SCENE_KIND, scene)
        beat = next(b for b in ours["beats"] if b["beat_id"] == claim.beat_id)
        ids = (claim.project, claim.episode, claim.scene_id)
        params = {
            **_claim_params(claim),
            "scene_id": claim.scene_id,
            "beat_id": claim.beat_id,
            "version": expected_version,
            "state": new_state,
            "expected": expected_state,
            "beat": Jsonb(beat),
        }
        opened: tuple[Statement, ...] = ((_GATE_OPEN, {}),) if gates else ()
        rows = self.together(*before, *opened, *gates, (_FENCED_WRITE, params), *after)
        first = len(before) + len(opened)
        answers = [r is not None and bool(r[0]) for r in rows[first : first + len(gates)]]
        if not all(answers):
            return answers  # a gate said no: nothing was written
        row = rows[first + len(gates)]  # one statement: atomic
        scene_found, fenced = (False, False) if row is None else (bool(row[0]), bool(row[1]))
        if not scene_found:
            active = self._one(
                "SELECT active_version FROM {s}.scenes WHERE project = %(project)s "
                "AND episode = %(episode)s AND scene_id = %(scene_id)s",
                params,
            )
            raise SceneVersionConflictError(
                claim.scene_id, expected_version, None if active is None else int(active[0])
            )
        if not fenced:
            reason = self._why(claim)
            self._one(
                "INSERT INTO {s}.lease_refusals "
                "(project, episode, take_id, worker, epoch, wanted_state, reason) VALUES "
                "(%(project)s, %(episode)s, %(take_id)s, %(worker)s, %(epoch)s, %(state)s, "
                "%(reason)s)",
                {**params, "reason": reason},
            )
            raise LeaseLostError(claim.take_id, claim.worker, claim.epoch, reason)
        self.backend._revisions.pop((*ids, expected_version), None)
        return answers

    @staticmethod
    def create_key_gate(lock: int) -> Statement:
        """A gate for :meth:`write_take_fenced` that takes the create key ``lock`` (a
        session advisory lock on this object's connection, see
        ``recoil_postgres.create_guard``) if the gates before it said yes; it says no
        when another session holds the key. Its answer: whether the key was taken."""
        return (_CREATE_KEY_GATE, {"key": lock})


_EPISODE_FILTER = (
    " WHERE (%(project)s::text IS NULL OR (project = %(project)s AND episode = %(episode)s))"
)


def _episode_params(episode: tuple[str, str] | None) -> dict[str, str | None]:
    project, name = episode if episode is not None else (None, None)
    return {"project": project, "episode": name}


def _claim_params(claim: Claim) -> dict[str, Any]:
    return {
        "project": claim.project,
        "episode": claim.episode,
        "take_id": claim.take_id,
        "worker": claim.worker,
        "epoch": claim.epoch,
    }


_CLAIM_HOLDS = """
    SELECT 1 FROM {s}.take_leases
    WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
      AND worker = %(worker)s AND epoch = %(epoch)s"""
"""A row when the claim (``worker``, ``epoch``) still holds the take."""
_RESERVING = (
    """
WITH lease AS ("""
    + _CLAIM_HOLDS
    + """
), held AS (
    SELECT %(worker)s::text IS NULL OR EXISTS (SELECT 1 FROM lease) AS ok
), b AS (
    UPDATE {s}.budgets SET reserved = reserved + %(amount)s
    WHERE project = %(project)s AND episode = %(episode)s
      AND (cap IS NULL OR spent + reserved + %(amount)s <= cap)
      AND (SELECT ok FROM held)
    RETURNING 1
), h AS (
    INSERT INTO {s}.budget_holds (project, episode, take_id, amount)
    SELECT %(project)s, %(episode)s, %(take_id)s, %(amount)s WHERE EXISTS (SELECT 1 FROM b)
    ON CONFLICT (project, episode, take_id)
    DO UPDATE SET amount = budget_holds.amount + EXCLUDED.amount
    RETURNING 1
), fit AS (
    SELECT (SELECT ok FROM held) AS held, EXISTS (SELECT 1 FROM h) OR NOT EXISTS (
        SELECT 1 FROM {s}.budgets WHERE project = %(project)s AND episode = %(episode)s
    ) AS fits
)"""
)
_RESERVE = _RESERVING + "\nSELECT held AND fits, held FROM fit"
"""Reserve ``amount`` for the take if it fits the cap and, given a claim (``worker``,
``epoch``; NULL: none), only while that claim holds the take: a node that lost its lease
reserves nothing (the take's hold is the new holder's, which frees it whole when it is
done: a reservation made after that would never be freed). Its row: (reserved, the claim
holds the take)."""
_RESERVE_GATE = _RESERVING + (
    "\nSELECT NOT held OR fits, set_config('recoil.gate', "
    "CASE WHEN NOT held OR fits THEN 'open' ELSE 'closed' END, true) FROM fit"
)
""":data:`_RESERVE` as the first gate of a fenced write (see
:meth:`TakeLeases.write_take_fenced`): closed when the amount does not fit; left open when
the claim lost the take (nothing is reserved, and the fence refuses the write, which is
recorded as any refused write is)."""
_RELEASE_HOLD = """
WITH b AS (
    SELECT 1 FROM {s}.budgets WHERE project = %(project)s AND episode = %(episode)s
    FOR UPDATE
), held AS (
    SELECT 1 FROM {s}.take_leases
    WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
      AND (%(worker)s::text IS NULL OR (worker = %(worker)s AND epoch = %(epoch)s))
      AND EXISTS (SELECT 1 FROM b)
    FOR SHARE
), gone AS (
    DELETE FROM {s}.budget_holds
    WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
      AND (%(worker)s::text IS NULL OR EXISTS (SELECT 1 FROM held))
      AND EXISTS (SELECT 1 FROM b)
    RETURNING amount
)
UPDATE {s}.budgets SET reserved = reserved - (SELECT amount FROM gone)
WHERE project = %(project)s AND episode = %(episode)s AND EXISTS (SELECT 1 FROM gone)
"""
_CHARGE = """
WITH led AS (
    INSERT INTO {s}.ledger
        (project, episode, entry_id, scene_id, take_id, provider, model, kind, amount_usd,
         document)
    VALUES (%(project)s, %(episode)s, %(entry_id)s, %(scene_id)s, %(take_id)s,
            %(provider)s, %(model)s, %(kind)s, %(amount)s, %(document)s)
    ON CONFLICT (project, episode, entry_id) DO NOTHING
    RETURNING seq
), b AS (
    SELECT 1 FROM {s}.budgets WHERE project = %(project)s AND episode = %(episode)s
      AND EXISTS (SELECT 1 FROM led)
    FOR UPDATE
), h AS (
    SELECT LEAST(amount, %(billed)s) AS consumed FROM {s}.budget_holds
    WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
      AND EXISTS (SELECT 1 FROM b)
    FOR UPDATE
), hu AS (
    UPDATE {s}.budget_holds SET amount = amount - (SELECT consumed FROM h)
    WHERE project = %(project)s AND episode = %(episode)s AND take_id = %(take_id)s
      AND EXISTS (SELECT 1 FROM h)
    RETURNING 1
), bu AS (
    UPDATE {s}.budgets SET spent = spent + %(billed)s,
        reserved = reserved - COALESCE((SELECT consumed FROM h), 0)
    WHERE project = %(project)s AND episode = %(episode)s AND EXISTS (SELECT 1 FROM led)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM led), (SELECT count(*) FROM hu), (SELECT count(*) FROM bu)
"""


def _usd(value: float) -> Decimal:
    """A float amount as the decimal it was written as (``0.1`` is one tenth)."""
    return Decimal(repr(float(value)))


class EpisodeBudget:
    """The cap render nodes share for one episode: reservations are one conditional
    ``UPDATE`` (``spent + reserved + amount <= cap``), and a charge moves money from the
    take's hold to ``spent`` in the transaction that appends its ledger row."""

    def __init__(self, leases: TakeLeases, project: str, episode: str) -> None:
        self.leases = leases
        self.backend = leases.backend
        self.project = project
        self.episode = episode

    def _key(self, **extra: Any) -> dict[str, Any]:
        return {"project": self.project, "episode": self.episode, **extra}

    def _lock_budget(self, conn: psycopg.Connection[TupleRow]) -> None:
        """Lock the episode's budget row first (every write here does: one lock order)."""
        conn.execute(
            self.backend._q(
                "SELECT 1 FROM {s}.budgets WHERE project = %(project)s "
                "AND episode = %(episode)s FOR UPDATE"
            ),
            self._key(),
        )

    def _holds(self, conn: psycopg.Connection[TupleRow], claim: Claim) -> bool:
        row = conn.execute(self.backend._q(_CLAIM_HOLDS), _claim_params(claim)).fetchone()
        return row is not None

    def _has_budget(self, conn: psycopg.Connection[TupleRow]) -> bool:
        row = conn.execute(
            self.backend._q(
                "SELECT 1 FROM {s}.budgets WHERE project = %(project)s AND episode = %(episode)s"
            ),
            self._key(),
        ).fetchone()
        return row is not None

    def set_cap(self, cap: float | None, *, count_ledger: bool) -> None:
        """Set the cap (None: none); ``spent`` is what the ledger holds (``count_ledger``)
        or 0. Holds of takes still owed stay reserved."""
        self.leases._tables()
        q = self.backend._q
        key = self._key(cap=None if cap is None else _usd(cap))
        with self.backend._transaction() as conn:
            conn.execute(
                q(
                    "INSERT INTO {s}.budgets (project, episode, cap) VALUES "
                    "(%(project)s, %(episode)s, %(cap)s) ON CONFLICT (project, episode) "
                    "DO UPDATE SET cap = EXCLUDED.cap"
                ),
                key,
            )
            conn.execute(
                q(
                    "SELECT 1 FROM {s}.budgets WHERE project = %(project)s "
                    "AND episode = %(episode)s FOR UPDATE"
                ),
                key,
            )
            rows = conn.execute(
                q(
                    "SELECT amount_usd FROM {s}.ledger WHERE project = %(project)s "
                    "AND episode = %(episode)s"
                ),
                key,
            ).fetchall()
            spent = sum((_usd(r[0]) for r in rows), Decimal(0)) if count_ledger else Decimal(0)
            conn.execute(
                q(
                    "UPDATE {s}.budgets SET spent = %(spent)s WHERE project = %(project)s "
                    "AND episode = %(episode)s"
                ),
                {**key, "spent": spent},
            )

    def reserve(self, take_id: str, amount: Decimal, claim: Claim | None = None) -> bool:
        """Add ``amount`` to the take's hold if it fits the cap (and, with ``claim``, only
        while that claim holds the take); False (nothing changed) when it does not. One
        statement (the budget row, then the hold)."""
        row = self.leases._one(*self.reserve_statement(take_id, amount, claim))
        return row is not None and bool(row[0])

    def reserve_statement(
        self, take_id: str, amount: Decimal, claim: Claim | None = None
    ) -> Statement:
        """:meth:`reserve` as a statement for :meth:`TakeLeases.together`; its row says
        whether the amount was reserved, then whether the claim (if any) holds the take."""
        return (_RESERVE, self._reserve_params(take_id, amount, claim))

    def reserve_gate(self, take_id: str, amount: Decimal, claim: Claim) -> Statement:
        """:meth:`reserve` as the first gate of :meth:`TakeLeases.write_take_fenced`: the
        write is made only if the amount fits (the gate's answer); a claim that lost the
        take reserves nothing, and its write is refused by the fence."""
        return (_RESERVE_GATE, self._reserve_params(take_id, amount, claim))

    def _reserve_params(self, take_id: str, amount: Decimal, claim: Claim | None) -> dict[str, Any]:
        return self._key(
            take_id=take_id,
            amount=amount,
            worker=None if claim is None else claim.worker,
            epoch=None if claim is None else claim.epoch,
        )

    def hold(self, take_id: str, amount: Decimal, claim: Claim | None = None) -> None:
        """Make the take's hold at least ``amount`` (money a job it owns may bill: no cap
        check). A hold a stopped node left for the take is taken over, not doubled. With
        ``claim``: only while that claim holds the take (see :data:`_RESERVE`)."""
        self.leases._tables()
        q = self.backend._q
        key = self._key(take_id=take_id, amount=amount)
        with self.backend._transaction() as conn:
            self._lock_budget(conn)
            if claim is not None and not self._holds(conn, claim):
                return  # the take's hold is its new holder's
            row = conn.execute(
                q(
                    "SELECT amount FROM {s}.budget_holds WHERE project = %(project)s "
                    "AND episode = %(episode)s AND take_id = %(take_id)s"
                ),
                key,
            ).fetchone()
            held = Decimal(0) if row is None else cast(Decimal, row[0])
            if amount <= held:
                return
            conn.execute(
                q(
                    "INSERT INTO {s}.budget_holds (project, episode, take_id, amount) VALUES "
                    "(%(project)s, %(episode)s, %(take_id)s, %(amount)s) "
                    "ON CONFLICT (project, episode, take_id) DO UPDATE SET amount = "
                    "EXCLUDED.amount"
                ),
                key,
            )
            conn.execute(
                q(
                    "UPDATE {s}.budgets SET reserved = reserved + %(delta)s "
                    "WHERE project = %(project)s AND episode = %(episode)s"
                ),
                {**key, "delta": amount - held},
            )

    def release(self, take_id: str, claim: Claim | None = None) -> None:
        """Free what is left of the take's hold; with ``claim``, only while that claim
        still holds the take (a node that lost its lease frees nothing: the hold is the
        new holder's). One statement: the budget row is locked first, then the lease row
        (shared), then the hold is deleted."""
        self.leases._one(*self.release_statement(take_id, claim))

    def release_statement(self, take_id: str, claim: Claim | None = None) -> Statement:
        """:meth:`release` as a statement for :meth:`TakeLeases.together`."""
        if claim is None:
            return (_RELEASE_HOLD, {**self._key(take_id=take_id), "worker": None, "epoch": None})
        return (_RELEASE_HOLD, _claim_params(claim))

    def charge(self, entry: LedgerEntry) -> bool:
        """Append ``entry`` to the ledger and, if it is new, move its amount from the
        take's hold (as far as it goes) to ``spent``: one statement (the ledger row, then
        the budget row, then the hold, locked in that order)."""
        row = self.leases._one(*self.charge_statement(entry))
        return row is not None and bool(row[0])

    def charge_statement(self, entry: LedgerEntry) -> Statement:
        """:meth:`charge` as a statement for :meth:`TakeLeases.together` (its first column
        says whether the entry was new)."""
        billed = _usd(entry.amount_usd)
        return (
            _CHARGE,
            {
                **self._key(take_id=entry.take_id, billed=billed),
                "entry_id": entry.entry_id,
                "scene_id": entry.scene_id,
                "provider": entry.provider,
                "model": entry.model,
                "kind": entry.kind.value,
                "amount": entry.amount_usd,
                "document": Jsonb(dump_document(LEDGER_KIND, entry)),
            },
        )

    def state(self) -> tuple[Decimal | None, Decimal, Decimal] | None:
        """``(cap, spent, reserved)``, or None before a cap was set."""
        self.leases._tables()
        with self.backend._transaction() as conn:
            row = conn.execute(
                self.backend._q(
                    "SELECT cap, spent, reserved FROM {s}.budgets "
                    "WHERE project = %(project)s AND episode = %(episode)s"
                ),
                self._key(),
            ).fetchone()
        if row is None:
            return None
        return cast("Decimal | None", row[0]), cast(Decimal, row[1]), cast(Decimal, row[2])

    def within_cap(self) -> bool:
        found = self.state()
        return found is None or found[0] is None or found[1] + found[2] <= found[0]

    def remaining(self) -> float:
        found = self.state()
        if found is None or found[0] is None:
            return float("inf")
        return float(found[0] - found[1] - found[2])
