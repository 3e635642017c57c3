"""Group commit: atomic writes collected in a batch and made durable together.

Covers ``recoil_core.persistence.atomic.commit_group`` (both sync methods), the filesystem
backend's ``write_batch`` and the runner's ``BatchWriter`` that drives them, on a thread
or on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recoil_core.errors import SceneVersionConflictError
from recoil_core.persistence.atomic import (
    SYNC_ENV,
    CommitGroup,
    commit_group,
    current_group,
    is_temp_name,
    sync_method,
    write_atomic,
)
from recoil_core.persistence.filesystem import FilesystemBackend
from recoil_core.runner.writer import MAX_BATCH, BatchWriter
from recoil_core.testing.conformance import EPISODE, PASS_ID, PROJECT, charge, coverage_scene


@pytest.fixture(params=["syncfs", "fsync"])
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "syncfs" and not sys.platform.startswith("linux"):
        pytest.skip("syncfs(2) is Linux only")
    monkeypatch.setenv(SYNC_ENV, request.param)
    assert sync_method() == request.param
    return str(request.param)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------- commit_group


def test_writes_in_a_group_reach_their_names_only_at_commit(tmp_path: Path, method: str) -> None:
    (tmp_path / "a.json").write_bytes(b"old")
    with commit_group() as group:
        write_atomic(tmp_path / "a.json", b"new")
        write_atomic(tmp_path / "b.json", b"b")
        assert (tmp_path / "a.json").read_bytes() == b"old"
        assert not (tmp_path / "b.json").exists()
        assert group.method == method
        assert len(group) == 2
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert (tmp_path / "b.json").read_bytes() == b"b"
    assert names(tmp_path) == ["a.json", "b.json"]  # no temp file left
    assert current_group() is None


def test_a_later_stage_is_renamed_only_after_the_earlier_one(tmp_path: Path, method: str) -> None:
    seen: list[tuple[str, bool]] = []
    with commit_group():
        write_atomic(
            tmp_path / "manifest.json",
            b"m",
            stage=1,
            on_replaced=lambda: seen.append(("manifest", (tmp_path / "v1.json").exists())),
        )
        write_atomic(
            tmp_path / "v1.json",
            b"v",
            on_replaced=lambda: seen.append(("v1", (tmp_path / "manifest.json").exists())),
        )
    assert seen == [("v1", False), ("manifest", True)]


def test_a_group_that_raises_places_nothing_and_leaves_no_temp_file(
    tmp_path: Path, method: str
) -> None:
    (tmp_path / "a.json").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), commit_group():
        write_atomic(tmp_path / "a.json", b"new")
        write_atomic(tmp_path / "b.json", b"b")
        raise RuntimeError("boom")
    assert names(tmp_path) == ["a.json"]
    assert (tmp_path / "a.json").read_bytes() == b"old"


def test_nested_groups_commit_once_with_the_outer(tmp_path: Path, method: str) -> None:
    with commit_group() as outer:
        with commit_group() as inner:
            assert inner is outer
            write_atomic(tmp_path / "a.json", b"a")
        assert not (tmp_path / "a.json").exists()
    assert (tmp_path / "a.json").read_bytes() == b"a"


def test_groups_are_per_thread(tmp_path: Path, method: str) -> None:
    """Another thread's writes are not swept into this thread's group."""
    with commit_group():
        worker = threading.Thread(target=write_atomic, args=(tmp_path / "t.json", b"t"))
        worker.start()
        worker.join()
        assert (tmp_path / "t.json").read_bytes() == b"t"  # durable on its own, at once


def test_a_failed_rename_at_commit_raises_and_removes_temp_files(
    tmp_path: Path, method: str
) -> None:
    (tmp_path / "dir.json").mkdir()  # a rename over a directory fails
    with pytest.raises(OSError), commit_group():
        write_atomic(tmp_path / "dir.json", b"x")
    assert not [n for n in names(tmp_path) if is_temp_name(n)]
    assert (tmp_path / "dir.json").is_dir()


def test_an_at_commit_write_runs_before_the_sync_and_an_undo_replaces_it_otherwise(
    tmp_path: Path, method: str
) -> None:
    done: list[str] = []
    with commit_group() as group:
        group.at_commit(lambda: done.append("write"), undo=lambda: done.append("undo"))
        write_atomic(tmp_path / "a.json", b"a")
        assert done == []  # nothing before the commit
    assert done == ["write"]

    done.clear()
    with pytest.raises(RuntimeError), commit_group() as group:
        group.at_commit(lambda: done.append("write"), undo=lambda: done.append("undo"))
        raise RuntimeError("the batch dies")
    assert done == ["undo"]  # abandoned: never written

    done.clear()
    (tmp_path / "dir.json").mkdir()  # a rename over a directory fails at commit
    with pytest.raises(OSError), commit_group() as group:
        group.at_commit(lambda: done.append("write"), undo=lambda: done.append("undo"))
        write_atomic(tmp_path / "dir.json", b"x")
    assert done == ["write", "undo"]  # written, then taken back: the commit failed


def test_a_group_of_a_few_appends_fsyncs_them_instead_of_the_whole_file_system(
    tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole: list[set[str]] = []
    monkeypatch.setattr(CommitGroup, "_syncfs", staticmethod(whole.append))
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"")
    with commit_group() as group:  # a batch of submitting records: one file appended to
        with log.open("ab") as file:
            file.write(b"line\n")
        group.sync_path(log)
    assert whole == []
    with commit_group() as group:  # anything renamed: syncfs where that is the method
        write_atomic(tmp_path / "a.json", b"a")
        group.sync_path(log)
    assert len(whole) == (2 if method == "syncfs" else 0)  # before and after the rename


def test_a_killed_process_leaves_old_files_and_only_temp_files(tmp_path: Path) -> None:
    """A process killed inside a group, before its commit, changed no file's content."""
    (tmp_path / "a.json").write_bytes(b"old")
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from recoil_core.persistence.atomic import commit_group, write_atomic\n"
        "d = Path(sys.argv[1])\n"
        "with commit_group():\n"
        "    write_atomic(d / 'a.json', b'new')\n"
        "    write_atomic(d / 'b.json', b'b')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False)
    assert done.returncode == -9
    assert (tmp_path / "a.json").read_bytes() == b"old"
    assert not (tmp_path / "b.json").exists()
    assert all(is_temp_name(n) for n in names(tmp_path) if n != "a.json")


# ---------------------------------------------------------------------------- write_batch


@pytest.fixture
def backend(tmp_path: Path) -> FilesystemBackend:
    return FilesystemBackend(tmp_path / "projects")


def test_write_batch_makes_scene_and_ledger_writes_visible_together(
    backend: FilesystemBackend, method: str
) -> None:
    scene = coverage_scene()
    with backend.write_batch():
        assert backend.create_scene(PROJECT, EPISODE, scene) == 1
        assert backend.append_ledger(charge("e1", 1.0))
        other = FilesystemBackend(backend.root)
        seen: list[Any] = []
        reader = threading.Thread(  # another thread: this one would settle the batch first
            target=lambda: seen.append(other.load_active(PROJECT, EPISODE, PASS_ID))
        )
        reader.start()
        reader.join()
        assert seen == [None]  # not placed yet
    assert other.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
    assert [e.take_id for e in other.read_ledger(PROJECT, EPISODE)] == ["e1"]


def test_write_batch_reads_its_own_writes(backend: FilesystemBackend, method: str) -> None:
    """A scene written earlier in the batch is read and compared-and-swapped as written."""
    scene = coverage_scene()
    with backend.write_batch():
        backend.create_scene(PROJECT, EPISODE, scene)
        assert backend.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
        scene.metadata = {"saved": "in the batch"}
        backend.save_scene(PROJECT, EPISODE, scene, expected_version=1)
        with pytest.raises(SceneVersionConflictError):
            backend.save_scene(PROJECT, EPISODE, scene, expected_version=2)
        assert backend.stage_candidate(PROJECT, EPISODE, coverage_scene(with_take=False)) == 2
        assert backend.conform(PROJECT, EPISODE, PASS_ID) == 2
    assert FilesystemBackend(backend.root).load_active(PROJECT, EPISODE, PASS_ID) is not None
    loaded = FilesystemBackend(backend.root).load_scene(PROJECT, EPISODE, PASS_ID, 1)
    assert loaded is not None and loaded.metadata == {"saved": "in the batch"}


def test_write_batch_that_raises_keeps_the_scene_as_it_was(
    backend: FilesystemBackend, method: str
) -> None:
    scene = coverage_scene()
    backend.create_scene(PROJECT, EPISODE, scene)
    changed = coverage_scene()
    changed.metadata = {"lost": True}
    with pytest.raises(KeyboardInterrupt), backend.write_batch():
        backend.save_scene(PROJECT, EPISODE, changed, expected_version=1)
        raise KeyboardInterrupt
    fresh = FilesystemBackend(backend.root)
    assert fresh.load_active(PROJECT, EPISODE, PASS_ID) == (scene, 1)
    folder = backend.scene_dir(PROJECT, EPISODE, PASS_ID)
    assert names(folder) == ["manifest.json", "v0001.json"]


# ---------------------------------------------------------------------------- BatchWriter


class CountingBatch:
    """A ``batch()`` for BatchWriter that records which writes each batch held."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.fail_commit = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.batches.append([])
        yield
        if self.fail_commit:
            raise OSError("commit failed")

    def record(self, value: Any) -> Any:
        """A write: notes ``value`` in the batch running it and returns it."""
        self.batches[-1].append(value)
        return value

    async def until_a_batch_runs(self) -> None:
        """Yield to the loop until the writer thread has started a batch."""
        while not self.batches:
            await asyncio.sleep(0)


def test_writes_queued_while_a_batch_runs_share_the_next_batch() -> None:
    counting = CountingBatch()
    writer = BatchWriter(counting)
    gate = threading.Event()

    def first() -> str:
        gate.wait(timeout=10)
        return counting.record("first")

    async def main() -> list[Any]:
        head = asyncio.ensure_future(writer.call(first))
        await counting.until_a_batch_runs()  # the first batch, blocked on the gate
        rest = [asyncio.ensure_future(writer.call(counting.record, i)) for i in range(50)]
        await asyncio.sleep(0)
        gate.set()
        return [await head, *[await r for r in rest]]

    try:
        results = asyncio.run(main())
    finally:
        writer.close()
    assert results == ["first", *range(50)]
    assert counting.batches == [["first"], list(range(MAX_BATCH)), list(range(MAX_BATCH, 50))]


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "event-loop"])
def test_urgent_writes_jump_the_queue_and_none_is_lost(inline: bool) -> None:
    counting = CountingBatch()
    writer = BatchWriter(counting, inline=inline)
    gate = threading.Event()

    def first() -> str:
        if not inline:
            gate.wait(timeout=10)
        return counting.record("first")

    async def main() -> list[str]:
        head = asyncio.ensure_future(writer.call(first))
        if not inline:
            await counting.until_a_batch_runs()  # the first batch, blocked on the gate
        calls = [writer.call(counting.record, f"n{i}") for i in range(40)]
        calls += [writer.call(counting.record, f"u{i}", urgent=True) for i in range(5)]
        queued = asyncio.gather(*calls)
        await asyncio.sleep(0)
        gate.set()
        return [await head, *await queued]

    try:
        results = asyncio.run(asyncio.wait_for(main(), 10))
    finally:
        writer.close()
    assert results == ["first", *(f"n{i}" for i in range(40)), *(f"u{i}" for i in range(5))]
    written = [name for batch in counting.batches for name in batch]
    assert sorted(written) == sorted(results)  # each exactly once
    urgent_batch = next(b for b in counting.batches if "u0" in b)
    # ahead of the queued others, in a batch of their own (it commits sooner)
    assert urgent_batch == [f"u{i}" for i in range(5)]
    # the first batch formed after they were queued: on a thread the one after the blocked
    # batch; on the loop the first of this turn's, ahead of "first"
    assert counting.batches.index(urgent_batch) == (0 if inline else 1)
    normal = [n for n in written if n.startswith("n")]
    assert normal == [f"n{i}" for i in range(40)]  # the rest keep their order


def test_a_busy_writer_thread_loses_no_write_urgent_or_not() -> None:
    writer = BatchWriter(CountingBatch())

    async def main() -> list[int]:
        return await asyncio.gather(
            *(writer.call(lambda i=i: i, urgent=i % 3 == 0) for i in range(2000))
        )

    try:
        assert asyncio.run(asyncio.wait_for(main(), 30)) == list(range(2000))
    finally:
        writer.close()


def test_on_the_event_loop_writes_queued_in_one_loop_turn_share_batches() -> None:
    counting = CountingBatch()
    writer = BatchWriter(counting, inline=True)
    threads: set[int] = set()

    def write(i: int) -> int:
        threads.add(threading.get_ident())
        return counting.record(i)

    async def main() -> list[int]:
        first = await asyncio.gather(*(writer.call(write, i) for i in range(50)))
        second = await asyncio.gather(*(writer.call(write, i) for i in range(3)))
        return [*first, *second]

    try:
        assert asyncio.run(main()) == [*range(50), *range(3)]
    finally:
        writer.close()
    assert counting.batches == [list(range(MAX_BATCH)), list(range(MAX_BATCH, 50)), [0, 1, 2]]
    assert threads == {threading.get_ident()}  # no thread: the loop's own


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "event-loop"])
def test_a_failing_write_fails_alone_and_a_failing_commit_fails_its_batch(inline: bool) -> None:
    counting = CountingBatch()
    writer = BatchWriter(counting, inline=inline)

    def bad() -> None:
        raise ValueError("bad write")

    async def main() -> tuple[Any, ...]:
        return tuple(
            await asyncio.gather(
                writer.call(lambda: "ok"), writer.call(bad), return_exceptions=True
            )
        )

    try:
        ok, failed = asyncio.run(main())
        assert ok == "ok"
        assert isinstance(failed, ValueError)
        counting.fail_commit = True
        (lost,) = asyncio.run(asyncio.wait_for(main(), 10))[:1]
        assert isinstance(lost, OSError)
    finally:
        writer.close()


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "event-loop"])
def test_close_finishes_handed_over_writes_and_refuses_new_ones(
    tmp_path: Path, inline: bool
) -> None:
    writer = BatchWriter(inline=inline)

    async def main() -> None:
        await writer.call(write_atomic, tmp_path / "a.json", b"a")
        writer.close()
        with pytest.raises(RuntimeError, match="closed"):
            await writer.call(write_atomic, tmp_path / "b.json", b"b")

    asyncio.run(main())
    assert names(tmp_path) == ["a.json"]
