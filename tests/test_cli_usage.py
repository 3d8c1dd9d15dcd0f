"""Usage errors through the installed console script: for every command a missing required
option, an unknown option and a wrong type each print Typer's usage panel — exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from tests._cli import PIPELINE

pytestmark = pytest.mark.e2e  # the installed console script in a subprocess, every command

COMMANDS: dict[str, typer.core.TyperCommand] = dict(typer.main.get_command(app).commands)


def _numeric_option(cmd: typer.core.TyperCommand) -> str | None:
    """An option of the command that takes an int or a float, or None."""
    for p in cmd.params:
        if p.opts[0].startswith("--") and not p.is_flag and p.type_descriptor.annotation in (int, float):
            return p.opts[0]
    return None


def _required_args(cmd: typer.core.TyperCommand) -> list:
    return [p for p in cmd.params if p.required]


def _cases() -> list[tuple[str, str, list[str], str]]:
    """(command, case, argv, text Typer prints) for every command."""
    cases = []
    for name, cmd in COMMANDS.items():
        cases.append((name, "unknown option", [name, "--no-such-option"], "No such option"))
        if _required_args(cmd):
            cases.append((name, "missing required", [name], "Missing"))
        opt = _numeric_option(cmd)
        if opt:
            cases.append((name, "wrong type", [name, opt, "not-a-number"], "Invalid value"))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Every case run once, four at a time, from an empty directory (nothing may be created there)."""
    cwd = tmp_path_factory.mktemp("cwd")
    env = {**os.environ, "COLUMNS": "200"}

    def run(case):
        name, kind, argv, _ = case
        return (name, kind), subprocess.run([PIPELINE, *argv], capture_output=True, text=True, cwd=cwd, env=env,
                                            timeout=120)

    with ThreadPoolExecutor(4) as pool:
        out = dict(pool.map(run, CASES))
    assert list(cwd.iterdir()) == [], "a usage error created files"
    return out


def test_every_command_has_the_three_usage_cases():
    kinds = {(n, k) for n, k, _, _ in CASES}
    assert set(COMMANDS) >= {"extract", "train", "evaluate", "info", "check", "compact", "synth", "cameras",
                             "inspect", "import-2d", "derive", "demo", "server"}
    for name in COMMANDS:
        assert (name, "unknown option") in kinds
    for name in ("extract", "synth", "compact", "inspect", "import-2d", "derive", "info", "check", "train"):
        assert (name, "missing required") in kinds, name
    for name in ("extract", "train", "synth", "evaluate", "demo", "server", "inspect"):
        assert (name, "wrong type") in kinds, name


@pytest.mark.parametrize("name,kind,argv,text", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_usage(results, name, kind, argv, text):
    r = results[(name, kind)]
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert text in r.stderr, r.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_of_every_command(name):
    """The walk over every command's --help (in process: the console script's own parsing is tested above)."""
    r = CliRunner().invoke(app, [name, "--help"], prog_name="pipeline", env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert f"Usage: pipeline {name}" in r.output
    assert COMMANDS[name].help.split()[0] in r.output  # the command's own docstring is shown


def test_extract_as_typed_without_data_names_the_root_and_the_ways_on(tmp_path):
    """`pipeline extract --dataset h36m --backbone hrnet32` with no data: one line, exit 2, nothing created."""
    env = {k: v for k, v in os.environ.items() if k != "CTXPOSE_DATA"}
    r = subprocess.run([PIPELINE, "extract", "--dataset", "h36m", "--backbone", "hrnet32"], capture_output=True,
                       text=True, cwd=tmp_path, env={**env, "COLUMNS": "80"}, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "--root data/h36m does not exist" in lines[0]
    assert "CTXPOSE_DATA" in lines[0] and "pipeline synth --dataset h36m --out data/h36m" in lines[0]
    assert list(tmp_path.iterdir()) == []
    r = subprocess.run([PIPELINE, "extract", "--dataset", "h36m"], capture_output=True, text=True, cwd=tmp_path,
                       env={**env, "CTXPOSE_DATA": str(tmp_path / "raw")}, timeout=120)
    assert r.returncode == 2 and f"--root {tmp_path / 'raw' / 'h36m'} does not exist" in r.stderr


def test_train_and_evaluate_defaults_explain_themselves(tmp_path):
    """evaluate with no run under ./runs says how to get one; train --resume without --out is a usage error."""
    r = subprocess.run([PIPELINE, "evaluate"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "no run directory with a checkpoint under" in r.stderr
    r = subprocess.run([PIPELINE, "train", "capf", "--resume"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 2 and "--resume needs --out" in r.stderr
    assert "Traceback" not in r.stderr
