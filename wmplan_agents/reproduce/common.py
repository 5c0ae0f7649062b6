"""Shared pieces of the reproductions: Wilson intervals, the table beside the paper's numbers,
JSON output, figures and a description of the machine."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wmplan_agents.planners.base import check_positive  # noqa: F401  (shared with the reproductions)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for ``z = 1.96``)."""
    if n < 1:
        raise ValueError(f"need at least one trial, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n={n}], got {successes}")
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # the interval holds p exactly (rounding can put p a hair outside at 0 or n successes)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def format_rate(successes: int, n: int) -> str:
    """``"48/50 = 96.0% [86.5, 98.9]"`` (Wilson 95%)."""
    lo, hi = wilson_interval(successes, n)
    return f"{successes}/{n} = {100 * successes / n:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def comparison_table(rows: list[tuple[str, str, str]], title: str = "") -> str:
    """Three aligned columns: quantity, measured here, the paper's number."""
    header = ("quantity", "measured", "paper")
    all_rows = [header, *rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(3)]
    lines = [title] if title else []
    for i, row in enumerate(all_rows):
        lines.append("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What ran the experiment (for the JSON and docs/results.md)."""
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def publish(result: Any, json_path: Path, paper: Any, table_text: str, echo: Any) -> None:
    """Write ``result`` beside ``paper`` and the machine to ``json_path`` (recorded in
    ``result.files["json"]``) and print the comparison table."""
    result.files["json"] = str(json_path)
    write_json(json_path, result=result, paper=paper, machine=machine())
    echo(table_text)


def write_json(path: Path, **content: Any) -> Path:
    """Write ``content`` (dataclasses, arrays and numbers allowed) as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(content), indent=2) + "\n")
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (headless)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


@dataclass(frozen=True)
class RunOptions:
    """How a reproduction runs (the settings say what it computes): ``out``, the folder it
    writes its plot and JSON to; ``progress``, whether it shows progress bars; ``echo``, where
    it prints its table; ``workers`` and ``address``, its Ray workers (the reproductions
    registered with ``parallel=True`` use them)."""

    out: Path
    progress: bool = False
    echo: Any = print
    workers: int = 1
    address: str | None = None


def output_dir(name: str, out_dir: str | Path | None) -> Path:
    """``out_dir`` or ``outputs/<name>``, created."""
    path = Path(out_dir) if out_dir is not None else Path("outputs") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` with ties given their average rank (as Spearman's rho needs)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]  # each tie group is [start, end)
    group_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long vectors (Pearson's r of their ranks)."""
    ra, rb = average_ranks(a), average_ranks(b)
    if len(ra) != len(rb) or len(ra) < 2:
        raise ValueError(f"need two equally long vectors of length >= 2, got {len(ra)}, {len(rb)}")
    return float(np.corrcoef(ra, rb)[0, 1])
