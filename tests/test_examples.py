"""Every script in ``examples/`` runs end to end at a tiny size (the reproductions keep
working; their full-size numbers are in docs/results.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "reproduce_spectral_cliff.py": ["--data-steps", "500", "--epochs", "2", "--max-horizon", "5"],
    "reproduce_funnel.py": [
        "--data-samples", "200", "--fourier-features", "8", "--epochs", "2",
        "--n-starts", "20", "--gd-steps", "50",
    ],
    "reproduce_minigrid.py": [
        "--data-steps", "500", "--n-episodes", "2", "--horizon", "5", "--gd-iterations", "5",
    ],
    "reproduce_grasp_table1.py": ["--env", "wallsingle", "--horizons", "5", "--n-trials", "2"],
    "reproduce_grasp_table2.py": ["--env", "wallsingle", "--horizon", "5", "--n-trials", "2"],
    "reproduce_grasp_tables34.py": ["--envs", "wallsingle", "--horizons", "5", "--n-trials", "2"],
}  # fmt: skip


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_a_script_takes_its_options_from_the_settings_dataclass() -> None:
    done = _run(["examples/reproduce_grasp_table1.py", "--n-trials", "0"])
    assert done.returncode != 0 and "n_trials" in done.stderr  # the dataclass's own check
    done = _run(["examples/reproduce_grasp_table1.py", "--no-such-field", "1"])
    assert done.returncode != 0 and "unrecognized arguments" in done.stderr


def test_every_reproduction_script_has_a_tiny_setting() -> None:
    scripts = {p.name for p in (ROOT / "examples").glob("reproduce_*.py")}
    assert scripts == set(TINY)


@pytest.mark.parametrize("script", sorted(TINY))
def test_reproduction_script_runs_at_tiny_size(script: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run([f"examples/{script}", *TINY[script], "--out", str(out)])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "paper" in done.stdout.lower()  # the table is printed beside the paper's numbers
    (result,) = out.glob("*.json")
    assert json.loads(result.read_text())  # numbers written
    assert list(out.glob("*.png")), "no plot saved"


def test_linear_expansive_example_runs() -> None:
    done = _run(["examples/linear_expansive.py"])
    assert done.returncode == 0, done.stderr[-4000:]
    assert "inverse control: success=True" in done.stdout
