"""``PostgresBackend``: the persistence protocol on PostgreSQL (psycopg 3, sync).

Tables (in one schema, see :mod:`recoil_postgres.schema`)::

    scenes          (project, episode, scene_id) -> active_version
    scene_versions  (project, episode, scene_id, version) -> downstream, created_at, note,
                    derivation_digest, revision, document (JSONB, ``dump_document("scene")``)
    derivation      (project, episode) -> document (JSONB)
    marks           (project, episode, scene_id, beat_id) -> revision, document (JSONB)
    ledger          seq (bigserial, append order), UNIQUE (project, episode, entry_id), document

Rules this module keeps:

* One connection per backend object (autocommit off), used by one thread at a time; every
  operation is one short transaction that commits before the call returns, unless it runs
  inside :meth:`PostgresBackend.write_batch`: then it is a savepoint of the batch's one
  transaction, committed when the block ends.
* ``save_scene`` is one conditional ``UPDATE ... WHERE active_version = expected`` that also
  requires the row's ``revision`` (bumped by a trigger on every update) to be the one this
  object last read or wrote; zero rows means a conflict and nothing is written. A backend
  object that has not read the row yet reads and decodes it first, so a document that
  cannot be decoded is reported (naming its row) and never overwritten.
* ``stage_candidate`` and ``conform`` lock the scene row (``FOR UPDATE``) and do all their
  work in one transaction.
* ``append_ledger`` is ``INSERT ... ON CONFLICT DO NOTHING``: the unique key decides, so
  two concurrent appenders of one entry id write it once.
* Episode locks are advisory locks on a dedicated connection (:mod:`recoil_postgres.locks`).
* Renders stay files: ``renders_root/<project>/<episode>/renders``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import attrs
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from recoil_core.api import (
    DERIVATION_KIND,
    LEDGER_KIND,
    RENDERS_DIR,
    SCENE_KIND,
    CorruptDocumentError,
    Downstream,
    LedgerEntry,
    Scene,
    SceneExistsError,
    SceneManifest,
    SceneNotFoundError,
    SceneVersionConflictError,
    VersionEntry,
    conform_target,
    dump_document,
    ensure_directory,
    load_document,
    validate_id,
)
from recoil_postgres.config import (
    DEFAULT_DSN,
    DEFAULT_SCHEMA,
    check_schema_name,
    describe,
    shown_dsn,
)
from recoil_postgres.connection import Conn, connect
from recoil_postgres.create_guard import CreateGuards
from recoil_postgres.errors import (
    PostgresConfigError,
    PostgresRefusedError,
    PostgresUnavailableError,
    SceneRevisionConflictError,
)
from recoil_postgres.locks import EpisodeLocks
from recoil_postgres.schema import ensure_schema

T = TypeVar("T")
VersionKey = tuple[str, str, str, int]

_ACTIVE_ROW = """
SELECT v.version, v.revision, v.document
FROM {s}.scenes s JOIN {s}.scene_versions v USING (project, episode, scene_id)
WHERE s.project = %s AND s.episode = %s AND s.scene_id = %s
  AND v.version = COALESCE(%s::integer, s.active_version)
"""
_MANIFEST_ROWS = """
SELECT s.active_version, v.version, v.downstream, v.created_at, v.note, v.derivation_digest
FROM {s}.scenes s JOIN {s}.scene_versions v USING (project, episode, scene_id)
WHERE s.project = %s AND s.episode = %s AND s.scene_id = %s
ORDER BY v.version
"""
_CAS_UPDATE = """
UPDATE {s}.scene_versions v SET document = %s
FROM {s}.scenes s
WHERE s.project = %s AND s.episode = %s AND s.scene_id = %s AND s.active_version = %s
  AND v.project = s.project AND v.episode = s.episode AND v.scene_id = s.scene_id
  AND v.version = s.active_version AND v.revision = %s
RETURNING v.revision
"""
_INSERT_VERSION = """
INSERT INTO {s}.scene_versions
    (project, episode, scene_id, version, downstream, created_at, note, derivation_digest,
     document)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING revision
"""
_INSERT_LEDGER = """
INSERT INTO {s}.ledger
    (project, episode, entry_id, scene_id, take_id, provider, model, kind, amount_usd, document)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project, episode, entry_id) DO NOTHING
RETURNING seq
"""
_EPISODE_TABLES = ("scenes", "derivation", "ledger")


@attrs.define
class _DerivationDocument:
    """The derivation document: which stages are fresh for which inputs (free-form)."""

    stages: dict[str, Any] = attrs.field(factory=dict)


class PostgresBackend:
    """Scenes, versions, derivation manifest and ledger in PostgreSQL tables.

    ``dsn`` is a libpq connection string or URL; ``schema`` holds the tables (created on
    first use); ``renders_root`` is the local folder for renders. ``lock_timeout_s`` is
    the lock timeout this backend was configured with; callers pass it to
    :meth:`lock_episode`.
    """

    name = "postgres"

    def __init__(
        self,
        dsn: str = DEFAULT_DSN,
        *,
        schema: str = DEFAULT_SCHEMA,
        renders_root: str | os.PathLike[str],
        lock_timeout_s: float | None = 0.0,
    ) -> None:
        self.schema = check_schema_name(schema)
        self.renders_root = Path(renders_root).absolute()
        self.lock_timeout_s = lock_timeout_s
        self._dsn = dsn
        self._mutex = threading.RLock()
        self._conn: Conn | None = None
        self._schema_ready = False
        self._revisions: dict[VersionKey, int] = {}
        self._queries: dict[str, sql.Composed] = {}
        self._locks = EpisodeLocks(self._open, self.schema)
        self._create_guard: CreateGuards | None = None

    def __repr__(self) -> str:
        return f"PostgresBackend({shown_dsn(self._dsn)!r}, schema={self.schema!r})"

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def create_guard(self) -> CreateGuards:
        """Which step creates this process is sending (see ``recoil_postgres.create_guard``):
        opened on first use, on a connection of its own."""
        if self._create_guard is None:
            self._create_guard = CreateGuards(self._open, self.schema, self._failure)
        return self._create_guard

    def close(self) -> None:
        """Close the connections (releasing any episode lock and create key this object
        holds)."""
        self._locks.close()
        if self._create_guard is not None:
            self._create_guard.close()
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------ connection

    def _open(self) -> Conn:
        return connect(self._dsn)

    def _connection(self) -> Conn:
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = self._open()
        if not self._schema_ready:
            try:
                ensure_schema(conn, self.schema)
            except psycopg.OperationalError as exc:
                raise self._failure(exc) from None
            except psycopg.Error as exc:
                raise PostgresConfigError(
                    f"cannot create Recoil's tables in PostgreSQL schema {self.schema!r} at "
                    f"{shown_dsn(self._dsn)}: {describe(exc, self._dsn)}"
                ) from None
            self._schema_ready = True
        return conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Conn]:
        """One transaction on this object's connection, committed on a clean exit."""
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as exc:
                self._revisions.clear()  # a commit may or may not have happened
                raise self._failure(exc) from None
            except psycopg.Error as exc:
                raise PostgresRefusedError(
                    f"PostgreSQL refused the operation in schema {self.schema!r}: "
                    f"{describe(exc, self._dsn)} Nothing was written."
                ) from None

    @contextlib.contextmanager
    def write_batch(self) -> Iterator[None]:
        """Every operation in the block runs in one transaction (each its own savepoint, so a
        refused compare-and-swap undoes only itself); one commit makes them durable.

        The runner's writer thread batches the writes of many takes this way: one WAL flush
        instead of one per write. Other threads wait for the block to end.
        """
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield
            except psycopg.OperationalError as exc:
                self._revisions.clear()  # the commit may or may not have happened
                raise self._failure(exc) from None
            except psycopg.Error as exc:
                self._revisions.clear()
                raise PostgresRefusedError(
                    f"PostgreSQL refused a batch of writes in schema {self.schema!r}: "
                    f"{describe(exc, self._dsn)} Nothing in the batch was written."
                ) from None
            except BaseException:
                self._revisions.clear()  # rolled back: what this object wrote is gone
                raise

    def _failure(self, exc: psycopg.Error) -> PostgresUnavailableError:
        conn = self._conn
        if conn is not None and conn.closed:
            self._conn = None
            what = "lost the connection to PostgreSQL"
        else:
            what = "PostgreSQL could not complete the operation"
        return PostgresUnavailableError(
            f"{what} at {shown_dsn(self._dsn)}: {describe(exc, self._dsn)} The operation "
            "may not have completed; run again once the server is reachable."
        )

    def _q(self, template: str) -> sql.Composed:
        """``template`` with ``{s}`` bound to this backend's schema (composed once)."""
        query = self._queries.get(template)
        if query is None:
            query = sql.SQL(template).format(s=sql.Identifier(self.schema))
            self._queries[template] = query
        return query

    def _one(self, conn: Conn, template: str, params: tuple[Any, ...]) -> TupleRow | None:
        return conn.execute(self._q(template), params).fetchone()

    def _all(self, conn: Conn, template: str, params: tuple[Any, ...]) -> list[TupleRow]:
        return conn.execute(self._q(template), params).fetchall()

    # ------------------------------------------------------------------ decoding

    def _source(self, table: str, *key: object) -> str:
        return f"PostgreSQL {self.schema}.{table} row {'/'.join(str(part) for part in key)}"

    def _decode(self, kind: str, data: object, cls: type[T], source: str) -> T:
        obj = load_document(kind, data, cls, source=source)
        found = data.get("document") if isinstance(data, dict) else None
        if found != kind:
            raise CorruptDocumentError(source, f"expected a {kind} document, found {found!r}")
        return obj

    def _decode_scene(self, data: object, key: VersionKey) -> Scene:
        project, episode, scene_id, version = key
        source = self._source("scene_versions", project, episode, scene_id, f"v{version}")
        scene = self._decode(SCENE_KIND, data, Scene, source)
        if scene.scene_id != scene_id:
            raise CorruptDocumentError(
                source, f"scene_id {scene.scene_id!r} does not match its row {scene_id!r}"
            )
        return scene

    def _manifest(
        self, conn: Conn, project: str, episode: str, scene_id: str
    ) -> SceneManifest | None:
        rows = self._all(conn, _MANIFEST_ROWS, (project, episode, scene_id))
        if not rows:
            return None
        entries = [
            VersionEntry(
                version=cast(int, version),
                downstream=Downstream(cast(str, downstream)),
                created_at=cast(str, created_at),
                note=cast(str, note),
                derivation_digest=cast("str | None", digest),
            )
            for _active, version, downstream, created_at, note, digest in rows
        ]
        return SceneManifest(scene_id, cast(int, rows[0][0]), entries)

    def _remember(self, key: VersionKey, revision: object) -> None:
        self._revisions[key] = cast(int, revision)

    # ------------------------------------------------------------------ scenes

    def list_scenes(self, project: str, episode: str) -> list[str]:
        _episode_ids(project, episode)
        with self._transaction() as conn:
            rows = self._all(
                conn,
                "SELECT scene_id FROM {s}.scenes WHERE project = %s AND episode = %s",
                (project, episode),
            )
        return sorted(cast(str, row[0]) for row in rows)

    def load_manifest(self, project: str, episode: str, scene_id: str) -> SceneManifest | None:
        _scene_ids(project, episode, scene_id)
        with self._transaction() as conn:
            return self._manifest(conn, project, episode, scene_id)

    def load_scene(
        self, project: str, episode: str, scene_id: str, version: int | None = None
    ) -> Scene | None:
        found = self._load(project, episode, scene_id, version)
        return None if found is None else found[0]

    def load_active(self, project: str, episode: str, scene_id: str) -> tuple[Scene, int] | None:
        return self._load(project, episode, scene_id, None)

    def _load(
        self, project: str, episode: str, scene_id: str, version: int | None
    ) -> tuple[Scene, int] | None:
        _scene_ids(project, episode, scene_id)
        with self._transaction() as conn:
            row = self._one(conn, _ACTIVE_ROW, (project, episode, scene_id, version))
            if row is None:
                return None
            number, revision, document = row
            key = (project, episode, scene_id, cast(int, number))
            scene = self._decode_scene(document, key)
            self._remember(key, revision)
            return scene, key[3]

    def create_scene(self, project: str, episode: str, scene: Scene) -> int:
        _scene_ids(project, episode, scene.scene_id)
        document = Jsonb(dump_document(SCENE_KIND, scene))
        entry = VersionEntry(
            version=1, downstream=Downstream.DERIVED, derivation_digest=scene.derivation_digest
        )
        ids = (project, episode, scene.scene_id)
        with self._transaction() as conn:
            created = self._one(
                conn,
                "INSERT INTO {s}.scenes (project, episode, scene_id, active_version) "
                "VALUES (%s, %s, %s, 1) ON CONFLICT DO NOTHING RETURNING active_version",
                ids,
            )
            if created is None:
                existing = self._one(
                    conn,
                    "SELECT active_version FROM {s}.scenes "
                    "WHERE project = %s AND episode = %s AND scene_id = %s",
                    ids,
                )
                raise SceneExistsError(scene.scene_id, cast(int, existing[0]) if existing else 1)
            self._remember((*ids, 1), self._insert_version(conn, ids, entry, document))
        return 1

    def _insert_version(
        self, conn: Conn, ids: tuple[str, str, str], entry: VersionEntry, document: Jsonb
    ) -> object:
        row = self._one(
            conn,
            _INSERT_VERSION,
            (
                *ids,
                entry.version,
                entry.downstream.value,
                entry.created_at,
                entry.note,
                entry.derivation_digest,
                document,
            ),
        )
        assert row is not None
        return row[0]

    def save_scene(
        self, project: str, episode: str, scene: Scene, *, expected_version: int
    ) -> None:
        _scene_ids(project, episode, scene.scene_id)
        document = Jsonb(dump_document(SCENE_KIND, scene))
        ids = (project, episode, scene.scene_id)
        key = (*ids, expected_version)
        with self._transaction() as conn:
            known = self._revisions.get(key)
            if known is None:
                known = self._readable_revision(conn, ids, expected_version)
            row = self._one(conn, _CAS_UPDATE, (document, *ids, expected_version, known))
            if row is None:
                self._revisions.pop(key, None)
                raise self._conflict(conn, ids, expected_version)
            self._remember(key, row[0])

    def _readable_revision(self, conn: Conn, ids: tuple[str, str, str], expected: int) -> int:
        """The active row's revision, after checking it is ``expected`` and decodes."""
        row = self._one(conn, _ACTIVE_ROW, (*ids, None))
        if row is None:
            raise SceneVersionConflictError(ids[2], expected, None)
        active, revision, document = row
        if active != expected:
            raise SceneVersionConflictError(ids[2], expected, cast(int, active))
        self._decode_scene(document, (*ids, expected))
        return cast(int, revision)

    def _conflict(
        self, conn: Conn, ids: tuple[str, str, str], expected: int
    ) -> SceneVersionConflictError:
        row = self._one(
            conn,
            "SELECT active_version FROM {s}.scenes "
            "WHERE project = %s AND episode = %s AND scene_id = %s",
            ids,
        )
        active = None if row is None else cast(int, row[0])
        if active != expected:
            return SceneVersionConflictError(ids[2], expected, active)
        return SceneRevisionConflictError(ids[2], expected)

    def _lock_scene(self, conn: Conn, ids: tuple[str, str, str]) -> SceneManifest:
        row = self._one(
            conn,
            "SELECT active_version FROM {s}.scenes "
            "WHERE project = %s AND episode = %s AND scene_id = %s FOR UPDATE",
            ids,
        )
        manifest = None if row is None else self._manifest(conn, *ids)
        if manifest is None:
            raise SceneNotFoundError(*ids)
        return manifest

    def stage_candidate(self, project: str, episode: str, scene: Scene, *, note: str = "") -> int:
        _scene_ids(project, episode, scene.scene_id)
        document = Jsonb(dump_document(SCENE_KIND, scene))
        ids = (project, episode, scene.scene_id)
        with self._transaction() as conn:
            manifest = self._lock_scene(conn, ids)
            entry = VersionEntry(
                version=manifest.latest_version + 1,
                downstream=Downstream.NOT_DERIVED,
                note=note,
                derivation_digest=scene.derivation_digest,
            )
            revision = self._insert_version(conn, ids, entry, document)
            self._remember((*ids, entry.version), revision)
        return entry.version

    def conform(self, project: str, episode: str, scene_id: str, version: int | None = None) -> int:
        _scene_ids(project, episode, scene_id)
        ids = (project, episode, scene_id)
        with self._transaction() as conn:
            version = conform_target(self._lock_scene(conn, ids), version)
            row = self._one(conn, _ACTIVE_ROW, (*ids, version))
            assert row is not None
            key = (*ids, version)
            self._decode_scene(row[2], key)  # never activate a version that cannot be read
            revision = row[1]
            bumped = self._one(
                conn,
                "UPDATE {s}.scene_versions SET downstream = 'derived' "
                "WHERE project = %s AND episode = %s AND scene_id = %s AND version = %s "
                "AND downstream <> 'derived' RETURNING revision",
                key,
            )
            if bumped is not None:
                revision = bumped[0]
            conn.execute(
                self._q(
                    "UPDATE {s}.scenes SET active_version = %s "
                    "WHERE project = %s AND episode = %s AND scene_id = %s"
                ),
                (version, *ids),
            )
            self._remember(key, revision)
        return version

    # ------------------------------------------------------------------ derivation manifest

    def load_derivation(self, project: str, episode: str) -> dict[str, Any]:
        _episode_ids(project, episode)
        with self._transaction() as conn:
            return self._derivation(conn, project, episode, lock=False)

    def save_derivation(self, project: str, episode: str, manifest: dict[str, Any]) -> None:
        _episode_ids(project, episode)
        document = Jsonb(dump_document(DERIVATION_KIND, _DerivationDocument(dict(manifest))))
        with self._transaction() as conn:
            self._derivation(conn, project, episode, lock=True)  # never replace a corrupt one
            conn.execute(
                self._q(
                    "INSERT INTO {s}.derivation (project, episode, document) VALUES (%s, %s, %s) "
                    "ON CONFLICT (project, episode) "
                    "DO UPDATE SET document = EXCLUDED.document, updated_at = now()"
                ),
                (project, episode, document),
            )

    def _derivation(self, conn: Conn, project: str, episode: str, *, lock: bool) -> dict[str, Any]:
        template = "SELECT document FROM {s}.derivation WHERE project = %s AND episode = %s"
        row = self._one(conn, template + (" FOR UPDATE" if lock else ""), (project, episode))
        if row is None:
            return {}
        source = self._source("derivation", project, episode)
        return self._decode(DERIVATION_KIND, row[0], _DerivationDocument, source).stages

    # ------------------------------------------------------------------ ledger

    def append_ledger(self, entry: LedgerEntry) -> bool:
        _episode_ids(entry.project, entry.episode)
        document = Jsonb(dump_document(LEDGER_KIND, entry))
        params = (
            entry.project,
            entry.episode,
            entry.entry_id,
            entry.scene_id,
            entry.take_id,
            entry.provider,
            entry.model,
            entry.kind.value,
            entry.amount_usd,
            document,
        )
        with self._transaction() as conn:
            return self._one(conn, _INSERT_LEDGER, params) is not None

    def read_ledger(self, project: str, episode: str | None = None) -> list[LedgerEntry]:
        validate_id(project, what="project")
        if episode is not None:
            validate_id(episode, what="episode")
        with self._transaction() as conn:
            rows = self._all(
                conn,
                "SELECT episode, seq, entry_id, document FROM {s}.ledger "
                "WHERE project = %s AND (%s::text IS NULL OR episode = %s) "
                'ORDER BY episode COLLATE "C", seq',
                (project, episode, episode),
            )
        return [
            self._decode(
                LEDGER_KIND,
                document,
                LedgerEntry,
                self._source("ledger", project, name, f"{entry_id} (seq {seq})"),
            )
            for name, seq, entry_id, document in rows
        ]

    # ------------------------------------------------------------------ review marks

    def load_marks(
        self, project: str, episode: str
    ) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
        _episode_ids(project, episode)
        with self._transaction() as conn:
            rows = self._all(
                conn,
                "SELECT scene_id, beat_id, revision, document FROM {s}.marks "
                "WHERE project = %s AND episode = %s",
                (project, episode),
            )
        marks: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        for scene_id, beat_id, revision, document in rows:
            if not isinstance(document, dict):
                source = self._source("marks", project, episode, scene_id, beat_id)
                raise CorruptDocumentError(source, "expected a JSON object")
            marks[(cast(str, scene_id), cast(str, beat_id))] = (cast(int, revision), document)
        return marks

    def save_mark(
        self,
        project: str,
        episode: str,
        scene_id: str,
        beat_id: str,
        document: dict[str, Any],
        *,
        expected_revision: int,
    ) -> int | None:
        """One conditional statement: an insert that does nothing when the row exists
        (``expected_revision`` 0), else an update only while the revision is the expected
        one. Never takes the episode lock."""
        _scene_ids(project, episode, scene_id)
        key = (project, episode, scene_id, beat_id)
        with self._transaction() as conn:
            if expected_revision == 0:
                row = self._one(
                    conn,
                    "INSERT INTO {s}.marks (project, episode, scene_id, beat_id, revision, "
                    "document) VALUES (%s, %s, %s, %s, 1, %s) ON CONFLICT DO NOTHING "
                    "RETURNING revision",
                    (*key, Jsonb(document)),
                )
            else:
                row = self._one(
                    conn,
                    "UPDATE {s}.marks SET document = %s, revision = revision + 1, "
                    "updated_at = now() WHERE project = %s AND episode = %s AND scene_id = %s "
                    "AND beat_id = %s AND revision = %s RETURNING revision",
                    (Jsonb(document), *key, expected_revision),
                )
        return None if row is None else cast(int, row[0])

    # ------------------------------------------------------------------ discovery and locking

    def list_projects(self) -> list[str]:
        union = " UNION ".join(f"SELECT project FROM {{s}}.{table}" for table in _EPISODE_TABLES)
        with self._transaction() as conn:
            rows = self._all(conn, union, ())
        return sorted(cast(str, row[0]) for row in rows)

    def list_episodes(self, project: str) -> list[str]:
        validate_id(project, what="project")
        union = " UNION ".join(
            f"SELECT episode FROM {{s}}.{table} WHERE project = %s" for table in _EPISODE_TABLES
        )
        with self._transaction() as conn:
            rows = self._all(conn, union, (project,) * len(_EPISODE_TABLES))
        return sorted(cast(str, row[0]) for row in rows)

    def lock_episode(
        self, project: str, episode: str, *, timeout_s: float | None = 0.0
    ) -> contextlib.AbstractContextManager[None]:
        _episode_ids(project, episode)
        return self._locks.hold(project, episode, timeout_s)

    def renders_dir(self, project: str, episode: str) -> str:
        _episode_ids(project, episode)
        directory = self.renders_root / project / episode / RENDERS_DIR
        ensure_directory(directory)
        return str(directory)


def _episode_ids(project: str, episode: str) -> None:
    validate_id(project, what="project")
    validate_id(episode, what="episode")


def _scene_ids(project: str, episode: str, scene_id: str) -> None:
    _episode_ids(project, episode)
    validate_id(scene_id, what="scene id")
