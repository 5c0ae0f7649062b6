"""The wmplan command line, run in-process with typer's CliRunner."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from wmplan_agents.cli import app, parse_assignments

runner = CliRunner()
TINY = ["--set", "n_samples=30", "--set", "n_elites=5", "--set", "iterations=3"]


def test_eval_prints_a_table_with_the_success_rate():
    args = ["eval", "WMPlan/RuggedLandscape-v0", "--episodes", "2", "--horizon", "2"]
    result = runner.invoke(app, [*args, *TINY, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "WMPlan/RuggedLandscape-v0" in result.output
    assert "cem (horizon 2, replan every 2)" in result.output
    assert "2 (seeds 0..1)" in result.output
    rate = float(re.search(r"success rate\s+([0-9.]+)", result.output).group(1))
    assert rate == 1.0  # both episodes reach the goal with the true dynamics (measured)


def test_eval_passes_env_kwargs_and_rejects_bad_input():
    base = ["eval", "WMPlan/LinearExpansive-v0", "--episodes", "1", "--no-progress", *TINY]
    ok = runner.invoke(app, [*base, "--horizon", "1", "--env-set", "dim=3"])
    assert ok.exit_code == 0, ok.output
    for extra, message in [
        (["--planner", "nope"], "unknown planner"),
        (["--set", "n_samples"], "KEY=VALUE"),
        (["--model", "magic"], "ground-truth"),
        (["--horizon", "2", "--replan-every", "3"], "replan_every"),
        (["--set", "n_samples=abc"], "n_samples='abc': expected int"),
        (["--set", "reseed_every_plan=maybe"], "expected bool"),
        (["--set", "nsamples=3"], "unknown key 'nsamples'"),
        (["--env-set", "dim=three"], "dim='three': expected int"),
    ]:
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code != 0
        assert message in result.output, (extra, result.output)


def test_parse_assignments_reads_python_literals():
    parsed = parse_assignments(["a=3", "b=0.5", "c=(1, 2)", "d=name", "e=True"], "--set")
    assert parsed == {"a": 3, "b": 0.5, "c": (1, 2), "d": "name", "e": True}


def test_parse_assignments_follows_the_signature():
    from wmplan_agents.cli import MAKE_KWARGS, env_class
    from wmplan_agents.planners import planner_class

    env = parse_assignments(
        ["relative=false", "goal_steps=10", "max_steps=none", "max_episode_steps=7", "goal=fixed"],
        "--env-set", env_class("WMPlan/PushT-v0"), MAKE_KWARGS,
    )  # fmt: skip
    assert env == {
        "relative": False, "goal_steps": 10, "max_steps": None, "max_episode_steps": 7,
        "goal": "fixed",
    }  # fmt: skip
    for word, value in [("False", False), ("no", False), ("0", False), ("TRUE", True)]:
        parsed = parse_assignments([f"reseed_every_plan={word}"], "--set", planner_class("cem"))
        assert parsed["reseed_every_plan"] is value
    assert parse_assignments(["init_std=2"], "--set", planner_class("cem")) == {"init_std": 2.0}


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "eval" in result.output


def test_eval_with_a_shipped_model():
    args = ["eval", "WMPlan/WallSingle-v0", "--model", "pretrained", "--episodes", "1"]
    result = runner.invoke(app, [*args, "--horizon", "2", *TINY, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert re.search(r"model\s+pretrained", result.output)
    missing = runner.invoke(app, ["eval", "WMPlan/RuggedLandscape-v0", "--model", "pretrained"])
    assert missing.exit_code != 0


def test_reproduce_help_lists_the_experiments_and_settings_are_typed():
    from wmplan_agents.reproduce import REPRODUCTIONS

    result = runner.invoke(app, ["reproduce", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert all(name in result.output for name in REPRODUCTIONS)
    bad = runner.invoke(app, ["reproduce", "funnel", "--set", "no_such_setting=1"])
    assert bad.exit_code == 2 and "unknown key 'no_such_setting'" in bad.output


def test_one_error_style_and_no_bool_metavar():
    result = runner.invoke(app, ["eval", "WMPlan/Nope-v0"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "unknown env id 'WMPlan/Nope-v0'" in errors[0]
    for command in ("eval", "reproduce", "demo", "collect", "train"):
        help_text = runner.invoke(app, [command, "--help"]).output
        assert "<bool>" not in help_text and "--help" in help_text
