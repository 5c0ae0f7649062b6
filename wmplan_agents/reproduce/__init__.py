"""The papers' experiments as functions: ``reproduce(name, out_dir=..., **settings)``.

Each reproduction lives in its own module with a frozen settings dataclass and a
``reproduce(settings, opts)`` function (``opts``: a :class:`~.common.RunOptions`, where to write
and how to run) that prints a table beside the paper's numbers, saves a plot and writes its
numbers to JSON. :data:`REPRODUCTIONS` (the catalogue's,
``registry/reproductions.py``) maps the names used by ``wmplan reproduce NAME`` and the
``examples/reproduce_*.py`` scripts to those modules; add a new one with :func:`register`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from registry.reproductions import REPRODUCTIONS, Reproduction, register


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
    from wmplan_agents.reproduce.common import RunOptions, output_dir

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
    opts = RunOptions(output_dir(name, out_dir), progress, echo, workers, address)
    return run(settings, opts)


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
