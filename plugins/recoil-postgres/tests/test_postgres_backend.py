"""PostgreSQL backend behaviour beyond the conformance suite: real races between
connections, advisory episode locks, rows that cannot be decoded, and DSN passwords.

Each test works in its own schema, dropped afterwards. Races are made real without sleeps:
a third connection holds the contended row lock until both writers are seen waiting on it
in ``pg_stat_activity``, then lets them go.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from recoil_postgres.backend import PostgresBackend
from recoil_postgres.connection import Conn, connect
from recoil_postgres.errors import (
    PostgresConfigError,
    PostgresRefusedError,
    PostgresUnavailableError,
    SceneRevisionConflictError,
)
from recoil_postgres.schema import STORE_VERSION
from recoil_postgres.testing import reachable_dsn, scratch_schema

from recoil_core.api import (
    CorruptDocumentError,
    EpisodeLockedError,
    RecoilError,
    SceneVersionConflictError,
    SchemaVersionError,
    TakeState,
    Workflow,
)
from recoil_core.testing.conformance import EPISODE, PASS_ID, PROJECT, charge, coverage_scene

SECRET = "s3cr3t-Pa55word"
WAIT_FOR_WAITERS_S = 20.0

MakeBackend = Callable[..., PostgresBackend]


@pytest.fixture
def dsn() -> str:
    return reachable_dsn()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    with scratch_schema(dsn) as name:
        yield name


@pytest.fixture
def make_backend(dsn: str, schema: str, tmp_path: Path) -> Iterator[MakeBackend]:
    opened: list[PostgresBackend] = []

    def make(*, application_name: str | None = None) -> PostgresBackend:
        target = (
            dsn
            if application_name is None
            else make_conninfo(dsn, application_name=application_name)
        )
        backend = PostgresBackend(target, schema=schema, renders_root=tmp_path / "projects")
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


@pytest.fixture
def admin(dsn: str) -> Iterator[Conn]:
    """A separate autocommit connection for inspecting and tampering with rows."""
    with connect(dsn, autocommit=True) as conn:
        yield conn


def _table(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _wait_for_lock_waiters(admin: Conn, application_name: str, count: int) -> None:
    """Return once ``count`` sessions named ``application_name`` wait on a lock."""
    deadline = time.monotonic() + WAIT_FOR_WAITERS_S
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = %s AND wait_event_type = 'Lock'"
    )
    while True:
        admin.execute("SELECT pg_stat_clear_snapshot()")  # fresh view inside a transaction
        row = admin.execute(query, (application_name,)).fetchone()
        if row is not None and row[0] >= count:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{count} writers never blocked on the held row lock")
        time.sleep(0.01)


def _in_threads(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread; return its result or the exception it raised."""
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _racing(*calls: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """A not yet started thread that runs ``calls`` at once and collects their outcomes."""
    results: list[Any] = []
    return threading.Thread(target=lambda: results.extend(_in_threads(*calls))), results


# ---------------------------------------------------------------- compare-and-swap


def test_two_connections_racing_save_scene_on_the_same_version_exactly_one_wins(
    make_backend: MakeBackend, admin: Conn, schema: str
) -> None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    setup = make_backend()
    setup.create_scene(PROJECT, EPISODE, coverage_scene())
    one, two = make_backend(application_name=name), make_backend(application_name=name)
    loaded_one, loaded_two = (b.load_active(PROJECT, EPISODE, PASS_ID) for b in (one, two))
    assert loaded_one is not None and loaded_two is not None
    scene_one, scene_two = loaded_one[0], loaded_two[0]
    scene_one.metadata = {"writer": "one"}
    scene_two.metadata = {"writer": "two"}

    racers, results = _racing(
        lambda: one.save_scene(PROJECT, EPISODE, scene_one, expected_version=1),
        lambda: two.save_scene(PROJECT, EPISODE, scene_two, expected_version=1),
    )
    with admin.transaction():  # hold the row until both writers wait on it
        admin.execute(
            sql.SQL("SELECT 1 FROM {} WHERE scene_id = %s FOR UPDATE").format(
                _table(schema, "scene_versions")
            ),
            (PASS_ID,),
        )
        racers.start()
        _wait_for_lock_waiters(admin, name, 2)
    racers.join(timeout=60)

    winners = [r for r in results if r is None]
    losers = [r for r in results if isinstance(r, SceneVersionConflictError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], SceneRevisionConflictError)
    assert "rewritten by another writer" in str(losers[0])
    stored = make_backend().load_scene(PROJECT, EPISODE, PASS_ID)
    assert stored is not None
    winner = scene_one if results[0] is None else scene_two
    assert stored == winner
    manifest = make_backend().load_manifest(PROJECT, EPISODE, PASS_ID)
    assert manifest is not None and [e.version for e in manifest.versions] == [1]


def test_winner_keeps_saving_and_loser_saves_again_after_reloading(
    make_backend: MakeBackend,
) -> None:
    one, two = make_backend(), make_backend()
    one.create_scene(PROJECT, EPISODE, coverage_scene(with_take=False))
    loaded = two.load_active(PROJECT, EPISODE, PASS_ID)
    assert loaded is not None
    stale, version = loaded
    current = one.load_scene(PROJECT, EPISODE, PASS_ID)
    assert current is not None
    current.beats[0].new_take(Workflow("wf-a"))
    one.save_scene(PROJECT, EPISODE, current, expected_version=1)
    one.save_scene(PROJECT, EPISODE, current, expected_version=1)

    with pytest.raises(SceneRevisionConflictError):
        two.save_scene(PROJECT, EPISODE, stale, expected_version=version)
    assert one.load_scene(PROJECT, EPISODE, PASS_ID) == current

    reloaded = two.load_active(PROJECT, EPISODE, PASS_ID)
    assert reloaded is not None
    reloaded[0].beats[0].takes[0].state = TakeState.SUBMITTING
    two.save_scene(PROJECT, EPISODE, reloaded[0], expected_version=reloaded[1])
    assert one.load_scene(PROJECT, EPISODE, PASS_ID) == reloaded[0]


# ---------------------------------------------------------------- undecodable rows


def _tamper(admin: Conn, schema: str, document: object, version: int = 1) -> None:
    admin.execute(
        sql.SQL("UPDATE {} SET document = %s WHERE scene_id = %s AND version = %s").format(
            _table(schema, "scene_versions")
        ),
        (Jsonb(document), PASS_ID, version),
    )


def _stored_document(admin: Conn, schema: str, version: int = 1) -> Any:
    row = admin.execute(
        sql.SQL("SELECT document FROM {} WHERE scene_id = %s AND version = %s").format(
            _table(schema, "scene_versions")
        ),
        (PASS_ID, version),
    ).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    ("document", "error", "reason"),
    [
        ({"schema_version": 99, "document": "scene"}, SchemaVersionError, "schema_version 99"),
        ("just a string", CorruptDocumentError, "expected a JSON object"),
        (
            {"schema_version": 1, "document": "scene", "scene_id": PASS_ID, "beats": "x"},
            CorruptDocumentError,
            "corrupt document",
        ),
        ({"schema_version": 1, "document": "ledger_entry"}, CorruptDocumentError, "corrupt"),
    ],
)
def test_undecodable_scene_row_is_named_and_never_overwritten(
    make_backend: MakeBackend,
    admin: Conn,
    schema: str,
    document: object,
    error: type[RecoilError],
    reason: str,
) -> None:
    earlier = make_backend()
    earlier.create_scene(PROJECT, EPISODE, coverage_scene())
    assert earlier.load_active(PROJECT, EPISODE, PASS_ID) is not None
    _tamper(admin, schema, document)
    where = f"{schema}.scene_versions row {PROJECT}/{EPISODE}/{PASS_ID}/v1"

    fresh = make_backend()
    with pytest.raises(error, match=reason) as caught:
        fresh.load_scene(PROJECT, EPISODE, PASS_ID)
    assert where in str(caught.value)
    with pytest.raises(error) as caught:
        fresh.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
    assert where in str(caught.value)
    # an object that read the row before it was changed is refused by the revision check
    with pytest.raises(SceneVersionConflictError):
        earlier.save_scene(PROJECT, EPISODE, coverage_scene(), expected_version=1)
    assert _stored_document(admin, schema) == document


def test_conform_refuses_a_candidate_that_cannot_be_decoded(
    make_backend: MakeBackend, admin: Conn, schema: str
) -> None:
    backend = make_backend()
    backend.create_scene(PROJECT, EPISODE, coverage_scene())
    backend.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False))
    _tamper(admin, schema, {"schema_version": 7}, version=2)
    with pytest.raises(SchemaVersionError, match=f"{PASS_ID}/v2"):
        backend.conform(PROJECT, EPISODE, PASS_ID)
    manifest = backend.load_manifest(PROJECT, EPISODE, PASS_ID)
    assert manifest is not None and manifest.active_version == 1


def test_ledger_and_derivation_rows_that_cannot_be_decoded_name_their_row(
    make_backend: MakeBackend, admin: Conn, schema: str
) -> None:
    backend = make_backend()
    backend.append_ledger(charge("t1", 0.5))
    backend.save_derivation(PROJECT, EPISODE, {"grouping": {"fresh": True}})
    admin.execute(
        sql.SQL("UPDATE {} SET document = %s").format(_table(schema, "ledger")),
        (Jsonb({"schema_version": 1, "document": "ledger_entry", "amount_usd": "lots"}),),
    )
    admin.execute(
        sql.SQL("UPDATE {} SET document = %s").format(_table(schema, "derivation")),
        (Jsonb({"schema_version": 42, "document": "derivation"}),),
    )
    with pytest.raises(CorruptDocumentError, match=rf"ledger row {PROJECT}/{EPISODE}/t1:video"):
        backend.read_ledger(PROJECT, EPISODE)
    with pytest.raises(SchemaVersionError, match=f"derivation row {PROJECT}/{EPISODE}"):
        backend.save_derivation(PROJECT, EPISODE, {})
    row = admin.execute(
        sql.SQL("SELECT document FROM {}").format(_table(schema, "derivation"))
    ).fetchone()
    assert row is not None and row[0] == {"schema_version": 42, "document": "derivation"}


def test_tables_from_a_newer_recoil_postgres_are_refused(
    make_backend: MakeBackend, admin: Conn, schema: str
) -> None:
    make_backend().list_projects()
    admin.execute(
        sql.SQL("UPDATE {} SET version = %s").format(_table(schema, "schema_version")),
        (STORE_VERSION + 1,),
    )
    with pytest.raises(SchemaVersionError, match="upgrade recoil-postgres"):
        make_backend().list_projects()


def test_text_postgresql_cannot_store_is_a_clear_error_and_writes_nothing(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend()
    scene = coverage_scene()
    scene.metadata = {"note": "nul \x00 byte"}
    with pytest.raises(PostgresRefusedError, match="Nothing was written"):
        backend.create_scene(PROJECT, EPISODE, scene)
    assert backend.load_manifest(PROJECT, EPISODE, PASS_ID) is None
    assert backend.list_scenes(PROJECT, EPISODE) == []


# ---------------------------------------------------------------- ledger


def test_ledger_entry_appended_by_two_connections_at_once_is_written_once(
    make_backend: MakeBackend, admin: Conn, schema: str
) -> None:
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    one, two = make_backend(application_name=name), make_backend(application_name=name)
    entry = charge("t1", 0.5)
    one.list_projects()  # tables exist before the admin connection holds the key
    racers, results = _racing(lambda: one.append_ledger(entry), lambda: two.append_ledger(entry))
    with admin.transaction() as held:  # hold the entry id until both appenders wait on it
        admin.execute(
            sql.SQL(
                "INSERT INTO {} (project, episode, entry_id, scene_id, take_id, provider, "
                "model, kind, amount_usd, document) VALUES (%s, %s, %s, '', '', '', '', '', 0, "
                "'{{}}')"
            ).format(_table(schema, "ledger")),
            (PROJECT, EPISODE, entry.entry_id),
        )
        racers.start()
        _wait_for_lock_waiters(admin, name, 2)
        raise psycopg.Rollback(held)  # the held id goes away: the two waiters decide
    racers.join(timeout=60)
    assert sorted(results) == [False, True]
    assert make_backend().read_ledger(PROJECT, EPISODE) == [entry]


def test_many_entries_appended_concurrently_by_two_connections_each_land_once(
    make_backend: MakeBackend,
) -> None:
    one, two = make_backend(), make_backend()
    entries = [charge(f"t{n:03d}", 0.01 * n) for n in range(40)]
    start = threading.Barrier(2)

    def append_all(backend: PostgresBackend) -> int:
        start.wait()
        return sum(backend.append_ledger(entry) for entry in entries)

    counts = _in_threads(lambda: append_all(one), lambda: append_all(two))
    assert sum(counts) == len(entries)
    stored = make_backend().read_ledger(PROJECT, EPISODE)
    assert sorted(e.entry_id for e in stored) == sorted(e.entry_id for e in entries)


# ---------------------------------------------------------------- episode locks


def test_advisory_lock_held_by_one_object_makes_another_fail_at_once(
    make_backend: MakeBackend,
) -> None:
    one, two = make_backend(), make_backend()
    with one.lock_episode(PROJECT, EPISODE):
        with pytest.raises(EpisodeLockedError) as caught, two.lock_episode(PROJECT, EPISODE):
            pass
        message = str(caught.value)
        assert f"episode {PROJECT}/{EPISODE} is locked" in message
        assert "held by server process" in message and "--wait" in message
        waited = pytest.raises(EpisodeLockedError, match=r"after waiting 0\.05s")
        with waited, two.lock_episode(PROJECT, EPISODE, timeout_s=0.05):
            pass
    with two.lock_episode(PROJECT, EPISODE):
        pass


def test_lock_is_reentrant_through_one_object_and_held_until_the_outer_block_ends(
    make_backend: MakeBackend,
) -> None:
    one, two = make_backend(), make_backend()
    with one.lock_episode(PROJECT, EPISODE):
        with one.lock_episode(PROJECT, EPISODE):
            pass
        with pytest.raises(EpisodeLockedError), two.lock_episode(PROJECT, EPISODE):
            pass
    with (
        two.lock_episode(PROJECT, EPISODE),
        pytest.raises(EpisodeLockedError),
        one.lock_episode(PROJECT, EPISODE),
    ):
        pass


def test_locks_are_per_schema(dsn: str, tmp_path: Path, make_backend: MakeBackend) -> None:
    with scratch_schema(dsn) as other_schema, make_backend().lock_episode(PROJECT, EPISODE):
        other = PostgresBackend(dsn, schema=other_schema, renders_root=tmp_path)
        with other, other.lock_episode(PROJECT, EPISODE):
            pass


def test_waiting_for_the_lock_without_a_timeout_gets_it_once_released(
    make_backend: MakeBackend,
) -> None:
    one, two = make_backend(), make_backend()
    waiting = threading.Event()
    got: list[str] = []

    def wait_for_lock() -> None:
        waiting.set()
        with two.lock_episode(PROJECT, EPISODE, timeout_s=None):
            got.append("locked")

    with one.lock_episode(PROJECT, EPISODE):
        waiter = threading.Thread(target=wait_for_lock)
        waiter.start()
        waiting.wait(timeout=30)
        assert got == []
    waiter.join(timeout=30)
    assert got == ["locked"]


def test_lock_dies_with_the_session_that_held_it(make_backend: MakeBackend, admin: Conn) -> None:
    name = f"crash_{uuid.uuid4().hex[:8]}"
    holder, other = make_backend(application_name=name), make_backend()
    context = holder.lock_episode(PROJECT, EPISODE)
    context.__enter__()
    with pytest.raises(EpisodeLockedError), other.lock_episode(PROJECT, EPISODE):
        pass
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (name,),
    )
    with other.lock_episode(PROJECT, EPISODE):
        pass


# ---------------------------------------------------------------- passwords in DSNs


def test_password_of_an_unreachable_dsn_never_appears_in_errors(tmp_path: Path) -> None:
    dsn = f"postgresql://recoil:{SECRET}@127.0.0.1:1/recoil"
    backend = PostgresBackend(dsn, schema="recoil", renders_root=tmp_path)
    assert SECRET not in repr(backend)
    with pytest.raises(PostgresUnavailableError) as caught:
        backend.list_projects()
    message = str(caught.value)
    assert SECRET not in message
    assert "postgresql://recoil:***@127.0.0.1:1/recoil" in message
    with pytest.raises(PostgresUnavailableError) as caught, backend.lock_episode(PROJECT, EPISODE):
        pass
    assert SECRET not in str(caught.value)


def test_password_never_appears_when_the_server_refuses_the_database(dsn: str) -> None:
    bad = make_conninfo(dsn, password=SECRET, dbname=f"missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(PostgresUnavailableError, match="does not exist") as caught:
        connect(bad)
    assert SECRET not in str(caught.value)
    assert "password=***" in str(caught.value)


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=127.0.0.1 password={SECRET} port",
        f"host=127.0.0.1 password='{SECRET}' dbname",
        f"postgresql://u:{SECRET}@127.0.0.1:notaport/db",
    ],
)
def test_password_of_a_malformed_dsn_never_appears_in_errors(dsn: str) -> None:
    with pytest.raises((PostgresConfigError, PostgresUnavailableError)) as caught:
        connect(dsn)
    assert SECRET not in str(caught.value)


def test_a_ledger_row_whose_amount_is_quoted_is_a_named_corruption(
    make_backend: MakeBackend, admin: Conn, schema: str
) -> None:
    """A hand-edited row with ``"amount_usd": "0.5"`` is refused, never read as 0.5."""
    from recoil_core.api import dump_document

    backend = make_backend()
    backend.append_ledger(charge("t1", 0.5))
    edited = dump_document("ledger_entry", charge("t1", 0.5)) | {"amount_usd": "0.5"}
    admin.execute(
        sql.SQL("UPDATE {} SET document = %s").format(_table(schema, "ledger")), (Jsonb(edited),)
    )
    with pytest.raises(CorruptDocumentError, match="amount_usd") as caught:
        backend.read_ledger(PROJECT, EPISODE)
    assert f"ledger row {PROJECT}/{EPISODE}/t1:video" in str(caught.value)
