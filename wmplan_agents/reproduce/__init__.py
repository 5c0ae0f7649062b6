"""The papers' experiments as functions: ``reproduce(name, out_dir=..., **settings)``.

Each reproduction lives in its own module with a frozen settings dataclass and a
``reproduce(settings, out_dir, progress, echo)`` function that prints a table beside the paper's
numbers, saves a plot and writes its numbers to JSON. :data:`REPRODUCTIONS` maps the names used
by ``wmplan reproduce NAME`` and the ``examples/reproduce_*.py`` scripts to those modules; add a
new one with :func:`register`.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reproduction:
    """Where one reproduction lives: ``module`` has a settings class and ``reproduce``."""

    name: str
    module: str
    settings: str
    summary: str
    parallel: bool = False  # its reproduce() takes workers and address (Ray)

    def load(self) -> tuple[type, Any]:
        """``(settings class, reproduce function)``."""
        mod = importlib.import_module(self.module)
        return getattr(mod, self.settings), mod.reproduce


REPRODUCTIONS: dict[str, Reproduction] = {}


def register(entry: Reproduction) -> None:
    """Add a reproduction under ``entry.name`` (a duplicate name is an error)."""
    if entry.name in REPRODUCTIONS:
        raise ValueError(f"a reproduction named {entry.name!r} is already registered")
    REPRODUCTIONS[entry.name] = entry


register(
    Reproduction(
        "spectral-cliff",
        "wmplan_agents.reproduce.spectral_cliff",
        "SpectralCliffSettings",
        "Two Pillars Exp. 1: rollout Jacobian norm vs horizon, flat vs HELM (LinearExpansive)",
    )
)
register(
    Reproduction(
        "funnel",
        "wmplan_agents.reproduce.funnel",
        "FunnelSettings",
        "Two Pillars Exp. 2: GD basin coverage on true, flat and HELM energies (RuggedLandscape)",
    )
)
register(
    Reproduction(
        "minigrid",
        "wmplan_agents.reproduce.minigrid_alignment",
        "MiniGridSettings",
        "Two Pillars Exp. 3-4: gradient planning with an MSE vs a contrastive latent (MiniGrid)",
        parallel=True,
    )
)
register(
    Reproduction(
        "grasp-table1",
        "wmplan_agents.reproduce.grasp_table1",
        "GraspTable1Settings",
        "GRASP Table 1: open-loop Push-T at H=40..80, CEM/LatCo/GD/GRASP success and time",
        parallel=True,
    )
)
register(
    Reproduction(
        "grasp-table2",
        "wmplan_agents.reproduce.grasp_table2",
        "GraspTable2Settings",
        "GRASP Table 2: GRASP ablations (sync steps, state noise, stop-gradient) at H=40",
        parallel=True,
    )
)
register(
    Reproduction(
        "grasp-tables34",
        "wmplan_agents.reproduce.grasp_tables34",
        "GraspTables34Settings",
        "GRASP Tables 3-4: open-loop H=10..30 on Push-T, PointMaze, WallSingle",
        parallel=True,
    )
)

register(
    Reproduction(
        "pad",
        "wmplan_agents.reproduce.pad",
        "PadSettings",
        "Planning as Descent: CubeSingle's 5 tasks, play vs noisy data, projector, replanning",
        parallel=True,
    )
)


def make_settings(name: str, **overrides: Any) -> Any:
    """The settings of reproduction ``name`` with ``overrides`` (unknown keys: ValueError)."""
    if name not in REPRODUCTIONS:
        raise ValueError(f"unknown reproduction {name!r}; expected one of {sorted(REPRODUCTIONS)}")
    cls, _ = REPRODUCTIONS[name].load()
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"{name} has no settings {unknown}; expected some of {sorted(fields)}")
    return cls(**overrides)


def reproduce(
    name: str,
    out_dir: str | Path | None = None,
    *,
    progress: bool = False,
    echo: Any = print,
    workers: int = 1,
    address: str | None = None,
    **overrides: Any,
) -> Any:
    """Run reproduction ``name`` with its default settings changed by ``overrides``; return its
    result dataclass (its ``files`` say where the plot and the JSON went).

    ``workers > 1`` or a Ray ``address`` runs the trials on Ray workers
    (:mod:`wmplan_agents.parallel`), with the same results as the serial run; only the
    reproductions with ``parallel=True`` (the GRASP tables, pad, minigrid) shard their work."""
    from wmplan_agents import parallel

    settings = make_settings(name, **overrides)
    entry = REPRODUCTIONS[name]
    _, run = entry.load()
    if parallel.uses_ray(parallel.check_workers(workers, address), address):
        if not entry.parallel:
            shardable = sorted(k for k, v in REPRODUCTIONS.items() if v.parallel)
            raise ValueError(
                f"{name} runs in one process (workers={workers}, address={address!r} given); "
                f"the reproductions that run on Ray workers are {shardable}"
            )
        return run(
            settings, out_dir=out_dir, progress=progress, echo=echo, workers=workers,
            address=address,
        )  # fmt: skip
    return run(settings, out_dir=out_dir, progress=progress, echo=echo)


def _parse_bool(raw: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if raw.lower() not in words:
        raise ValueError(f"expected true/false, got {raw!r}")
    return words[raw.lower()]


def script_main(name: str, argv: list[str] | None = None, threads: int = 1) -> Any:
    """The command line of ``examples/reproduce_*.py``: one ``--field-name`` option per field
    of the reproduction's settings dataclass (typed by its default; tuples take several
    values), plus ``--out``, ``--workers``, ``--address`` and ``--threads``."""
    import argparse

    import torch

    cls, _ = REPRODUCTIONS[name].load()
    defaults = cls()
    parser = argparse.ArgumentParser(description=REPRODUCTIONS[name].summary)
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, tuple):
            kind = type(value[0]) if value else str
            kind = _parse_bool if kind is bool else kind
            parser.add_argument(flag, nargs="+", type=kind, default=None)
        elif isinstance(value, bool):
            parser.add_argument(flag, type=_parse_bool, default=None, metavar="{true,false}")
        else:
            parser.add_argument(flag, type=type(value), default=None)
    parser.add_argument("--out", default=None, help=f"output folder (default outputs/{name})")
    parser.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=1, help="Ray workers")
    parser.add_argument("--address", default=None, help="an existing Ray cluster's address")
    args = vars(parser.parse_args(argv))
    out, workers, address = args.pop("out"), args.pop("workers"), args.pop("address")
    torch.set_num_threads(args.pop("threads"))
    overrides = {
        k: tuple(v) if isinstance(v, list) else v for k, v in args.items() if v is not None
    }
    extra = {"workers": workers, "address": address} if workers > 1 or address else {}
    result = reproduce(name, out, progress=True, **extra, **overrides)
    for kind, path in result.files.items():
        print(f"{kind}: {path}")
    return result


__all__ = [
    "REPRODUCTIONS",
    "Reproduction",
    "make_settings",
    "register",
    "reproduce",
    "script_main",
]
