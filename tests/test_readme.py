"""The README is the front door: what it shows must be what Recoil does."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from recoil_core.testing.pytest_plugin import recoil_executable

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> list[str]:
    tail = README.split(marker, 1)[1]
    return tail.split("```", 1)[0].strip().splitlines()


def test_readme_plugins_list_is_what_recoil_prints(recoil_cli):
    shown = [line.split() for line in _block_after("$ recoil plugins list\n")]
    printed = recoil_cli("plugins", "list")
    assert printed.returncode == 0, printed.stderr
    assert [line.split() for line in printed.stdout.strip().splitlines()] == shown


def test_readme_usage_commands_run(recoil_cli):
    usage = README.split("## Using it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line.split("#", 1)[0])
        for line in usage.splitlines()
        if line.startswith(".venv/bin/recoil")
    ]
    assert len(commands) >= 6
    for argv in commands:
        args = [str(ROOT / a) if a.startswith("examples/") else a for a in argv[1:]]
        result = recoil_cli(*args)
        if args[0] == "rederive":  # nothing staged yet: a clear error, no traceback
            assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
            continue
        assert result.returncode == 0, (args, result.stdout, result.stderr)


def test_readme_names_every_exit_code_the_errors_use():
    from recoil_core import errors

    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", README, re.MULTILINE)}
    used = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.RecoilError)
    }
    assert used <= documented, f"undocumented exit codes: {sorted(used - documented)}"


def test_make_targets_named_in_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test", "setup", "lint"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci, "CI must run the README's test command"


def test_recoil_executable_is_installed():
    result = subprocess.run([recoil_executable(), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("recoil ")
