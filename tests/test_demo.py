"""``wmplan demo``, ``wmplan collect`` and ``wmplan train`` at tiny sizes."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from wmplan_agents.checkpoint import load
from wmplan_agents.cli import app
from wmplan_agents.data import Dataset
from wmplan_agents.workflows import run_demo

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py

runner = CliRunner()


def test_demo_command_runs_and_saves_a_gif(tmp_path):
    gif = tmp_path / "demo.gif"
    args = ["demo", "--episodes", "1", "--planner", "cem", "--gif", str(gif)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "episode 1/1 (seed 0)" in result.output
    assert "ms per env step" in result.output and "success" in result.output
    assert "preset=cem @ WMPlan/PushT-v0 (state)" in result.output
    frames = imageio.mimread(gif)
    # the start frame plus one per env step (at most the 50-step budget; fewer on success)
    assert 2 <= len(frames) <= 51
    assert frames[0].shape[-1] in (3, 4) and len(np.unique(frames[0])) > 2


def test_run_demo_results_and_bad_input(tmp_path):
    lines: list[str] = []
    result = run_demo(
        episodes=2, planner="cem", planner_kwargs={"iterations": 2}, gif_path=None,
        echo=lines.append,
    )  # fmt: skip
    assert len(result.successes) == len(result.lengths) == 2 and len(lines) == 3  # header + 2
    assert all(1 <= n <= 50 for n in result.lengths)  # the registered 50-step budget
    assert result.settings["preset"] == "cem @ WMPlan/PushT-v0 (state)"
    assert all(t > 0 for t in result.plan_time_per_step_s)
    assert result.gif_path is None and result.settings["planner"] == "cem"
    with pytest.raises(ValueError, match="positive integer"):
        run_demo(episodes=0, gif_path=None)


def test_collect_then_train_commands(tmp_path):
    data_path = tmp_path / "wall.npz"
    result = runner.invoke(
        app,
        [
            "collect", "WMPlan/WallSingle-v0", "--steps", "400", "--seed", "3", "--out",
            str(data_path), "--no-progress", "--env-set", "max_episode_steps=20",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "400 transitions in 20 episodes" in result.output
    data = Dataset.load(data_path)
    assert len(data) == 400 and data.meta["seed"] == 3

    ckpt = tmp_path / "wall_model"
    result = runner.invoke(
        app,
        [
            "train", str(data_path), "--out", str(ckpt), "--model", "mlp", "--horizon", "2",
            "--spectral", "0.001", "--epochs", "2", "--hidden", "32", "--no-progress",
            "--plot", str(tmp_path / "curve.png"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "epochs run            2" in result.output
    assert (tmp_path / "curve.png").stat().st_size > 0
    model = load(ckpt)
    obs = torch.as_tensor(data.observations[:4])
    z1 = model.step(model.encode(obs), torch.as_tensor(data.actions[:4]))
    assert z1.shape == (4, 3) and torch.isfinite(z1).all()
    assert model.env_id == "WMPlan/WallSingle-v0"  # the checkpoint knows its env
    # ... and closes the collect -> train -> eval path
    result = runner.invoke(
        app,
        [
            "eval", "WMPlan/WallSingle-v0", "--model", str(ckpt), "--episodes", "1",
            "--horizon", "2", "--set", "n_samples=20", "--set", "n_elites=4",
            "--set", "iterations=2", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "success rate" in result.output
    wrong = runner.invoke(
        app, ["eval", "WMPlan/PushT-v0", "--model", str(ckpt), "--episodes", "1", "--no-progress"]
    )
    assert wrong.exit_code != 0 and "trained on WMPlan/WallSingle-v0" in wrong.output


def test_train_command_errors(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "missing.npz"), "--no-progress"])
    assert result.exit_code != 0 and "not found" in result.output
    result = runner.invoke(app, ["collect", "WMPlan/Nope-v0", "--steps", "3", "--no-progress"])
    assert result.exit_code != 0 and "Nope" in result.output
