"""The ledger as a studio may leave it: a repeated line, a quoted amount, a torn or
hand-broken last line. A damaged line is named (exit 3, file untouched); a charge that
disappears with a broken last line is recorded again from its take, never lost."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ark_money import billed_usd, check_money, cli_env, run_recoil
from recoil_seeddance.testing.fake_ark import FakeArkServer

from recoil_core.persistence.filesystem import FilesystemBackend

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ep001" / "plan.json"
PROJECT, EPISODE = "nightshift", "EP001"


@pytest.fixture(scope="module")
def rendered_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FakeArkServer, Path]]:
    """The example episode rendered once on a fake Ark kept up for the module."""
    root = tmp_path_factory.mktemp("rendered")
    with FakeArkServer(api_key="ledger-key") as ark:
        done = run_recoil(cli_env(ark, root), root, "run", str(EXAMPLE), "--provider", "seeddance")
        assert done.returncode == 0, done.stderr
        yield ark, root / "projects"


@pytest.fixture
def rendered(
    rendered_once: tuple[FakeArkServer, Path], tmp_path: Path
) -> tuple[FakeArkServer, dict[str, str], Path]:
    """A copy of the rendered episode in this test's folder: the server, env and ledger."""
    ark, projects = rendered_once
    shutil.copytree(projects, tmp_path / "projects")
    env = cli_env(ark, tmp_path)
    return ark, env, tmp_path / "projects" / PROJECT / EPISODE / "ledger.jsonl"


def rerun(env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    result = run_recoil(env, cwd, "run", str(EXAMPLE), "--provider", "seeddance")
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda lines: [*lines, lines[0]], "appears twice"),
        (
            lambda lines: [
                lines[0]
                .replace(b'"amount_usd":', b'"amount_usd":"', 1)
                .replace(b',"job_id"', b'","job_id"', 1),
                *lines[1:],
            ],
            "amount_usd",
        ),
        (lambda lines: [b'{"schema_version": 2, "document": "ledger_entry"', *lines], "line 1"),
    ],
    ids=["duplicate-entry-id", "quoted-amount", "broken-middle-line"],
)
def test_a_damaged_ledger_line_is_named_and_the_file_left_as_it_is(
    rendered: tuple[FakeArkServer, dict[str, str], Path], tmp_path: Path, damage, says: str
) -> None:
    _ark, env, ledger = rendered
    lines = ledger.read_bytes().splitlines()
    ledger.write_bytes(b"\n".join(damage(lines)) + b"\n")
    before = ledger.read_bytes()

    code, _out, err = rerun(env, tmp_path)
    budget = run_recoil(env, tmp_path, "budget")

    assert code == 3 and budget.returncode == 3, err
    assert str(ledger) in err and says in err and "Traceback" not in err
    assert ledger.read_bytes() == before


def test_a_hand_broken_last_line_loses_no_charge(
    rendered: tuple[FakeArkServer, dict[str, str], Path], tmp_path: Path
) -> None:
    ark, env, ledger = rendered
    total = sum(billed_usd(ark).values())
    ledger.write_bytes(ledger.read_bytes()[:-20])  # the last charge's line, torn by hand

    code, out, err = rerun(env, tmp_path)

    assert code == 0, err
    assert "was missing (a torn or edited line) and was recorded again" in out
    backend = FilesystemBackend(tmp_path / "projects")
    assert sum(e.amount_usd for e in backend.read_ledger(PROJECT, EPISODE)) == pytest.approx(total)
    counts = check_money(ark, backend, PROJECT, EPISODE)
    assert counts.creates == counts.succeeded == 7
    assert json.loads(ledger.read_bytes().splitlines()[-1])["amount_usd"] > 0


def test_every_charge_records_its_price_table_and_budget_groups_by_it(tmp_path: Path) -> None:
    prices = tmp_path / "contract.json"
    prices.write_text(
        json.dumps({"as_of": "2026-11-01", "models": {"dreamina-seedance-2-0": {"default": 3.5}}})
    )
    with FakeArkServer(api_key="ledger-key") as ark:
        env = cli_env(ark, tmp_path) | {"RECOIL_SEEDDANCE_PRICES": str(prices)}
        done = run_recoil(env, tmp_path, "run", str(EXAMPLE), "--provider", "seeddance")
        assert done.returncode == 0, done.stderr
        grouped = run_recoil(env, tmp_path, "budget", "--by", "price-table", "--json")
    label = f"{prices} 2026-11-01"
    backend = FilesystemBackend(tmp_path / "projects")
    ledger = backend.read_ledger(PROJECT, EPISODE)
    assert {e.price_table for e in ledger} == {label}
    data = json.loads(grouped.stdout)
    assert list(data["groups"]) == [label] and data["total_usd"] == pytest.approx(
        sum(e.amount_usd for e in ledger)
    )
    tokens = sum(ark.stats()["tokens_by_task"].values())
    assert data["total_usd"] == pytest.approx(tokens * 3.5 / 1e6)
