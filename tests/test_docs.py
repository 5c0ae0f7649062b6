"""The manual pages are current, and the README's collect -> train -> plan snippet works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_generated_manual_pages_are_current() -> None:
    pytest.importorskip("ogbench")  # the cube envs' docstrings are part of the envs page
    done = subprocess.run(
        [sys.executable, "scripts/make_docs.py", "--check"], cwd=ROOT, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_collect_train_plan_snippet_plans_with_the_trained_model() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Collect, train, plan") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # the README's own code, as written
    agent, result = scope["agent"], scope["result"]
    assert agent.preset.source == "WMPlan/RuggedLandscape-v0 (state)"  # the model knows its env
    assert result.success_rate >= 0.8
