"""The ``wmplan`` command line.

Each command is one function decorated with ``@app.command(...)`` below; a new command (``demo``,
``train``, ``collect``, ``reproduce``) is one more such function, and may reuse
:func:`parse_assignments` for ``key=value`` options and :func:`format_table` for its output.
"""

from __future__ import annotations

import ast
import importlib
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="wmplan",
    help="Planning with world models: benchmark envs, planners and the MPC agent.",
    no_args_is_help=True,
    add_completion=False,
    # plain click output: "Error: ..." on one line (exit code 2) and no "<bool>" metavars
    rich_markup_mode=None,
)


@app.callback()
def main() -> None:
    """Planning with world models: benchmark envs, planners and the MPC agent."""


# -- helpers shared by the commands --------------------------------------------------------------


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True}
_BOOL_WORDS.update({"false": False, "no": False, "off": False, "0": False})


def _signature_types(target: Any) -> tuple[dict[str, Any], bool] | None:
    """``({parameter: type hint}, accepts **kwargs)`` of ``target``'s constructor, or None."""
    import inspect
    import typing

    init = target.__init__ if isinstance(target, type) else target
    try:
        params = inspect.signature(init).parameters
        hints = typing.get_type_hints(init)
    except (TypeError, ValueError, NameError):
        return None
    names = {n: hints.get(n, Any) for n in params if n not in ("self", "args", "kwargs")}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return names, open_ended


def _convert(key: str, raw: str, hint: Any, option: str) -> Any:
    """``raw`` as the type ``hint`` names (bool, int, float, str, or a union with None)."""
    import types
    import typing

    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    kinds = list(typing.get_args(hint) if union else (hint,))
    if type(None) in kinds and raw.strip().lower() in ("none", "null"):
        return None
    simple = [k for k in kinds if k in (bool, int, float, str)]
    if not simple:  # tuples, Any, literals: a Python literal, else the string
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return raw
    for kind in simple:
        if kind is bool and raw.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[raw.strip().lower()]
        if kind is int:
            try:
                return int(raw)
            except ValueError:
                continue
        if kind is float:
            try:
                return float(raw)
            except ValueError:
                continue
        if kind is str:
            return raw
    names = " or ".join(k.__name__ for k in simple)
    if bool in simple:
        names += " (true/false, yes/no, 1/0)"
    raise typer.BadParameter(f"{key}={raw!r}: expected {names}", param_hint=option)


def parse_assignments(
    items: list[str] | None, option: str, target: Any = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``["n_samples=100", "relative=false", "name=foo"]`` -> a dict. With ``target`` (a class
    or function), each value is parsed as the type its parameter declares (bool words, int,
    float, str, None) and an unknown key is an error listing the known ones; without it, values
    are Python literals (strings stay strings). Errors raise ``typer.BadParameter`` naming
    ``option``, the key and the expected type. ``extra``: more ``{key: type}`` to accept."""
    signature = _signature_types(target) if target is not None else None
    if signature is not None and extra:
        signature = ({**signature[0], **extra}, signature[1])
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        if signature is not None:
            hints, open_ended = signature
            if key not in hints and not open_ended:
                raise typer.BadParameter(
                    f"unknown key {key!r}; expected one of {', '.join(sorted(hints))}",
                    param_hint=option,
                )
            out[key] = _convert(key, raw, hints.get(key, Any), option)
            continue
        try:
            value: Any = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out[key] = value
    return out


# --workers and --address, for the commands that run on Ray workers (docs/parallel.md)
Workers = Annotated[
    int, typer.Option(min=1, help='Ray workers (> 1 needs pip install "wmplan[ray]")')
]
Address = Annotated[
    str | None, typer.Option(help="an existing Ray cluster's address (default: local Ray)")
]

# what gym.make itself takes besides the env's own keyword arguments
MAKE_KWARGS: dict[str, Any] = {"max_episode_steps": int, "disable_env_checker": bool}


def env_class(env_id: str) -> Any:
    """The class (or creator) registered under ``env_id``; ``typer.BadParameter`` if unknown."""
    import gymnasium as gym

    import wmplan_envs  # noqa: F401

    try:
        spec = gym.spec(env_id)
    except gym.error.Error as err:
        raise typer.BadParameter(f"unknown env id {env_id!r}: {err}") from err
    entry = spec.entry_point
    if callable(entry):
        return entry
    return gym.envs.registration.load_env_creator(entry)


def format_table(rows: list[tuple[str, str]], title: str = "") -> str:
    """Two aligned columns (name, value) under an optional title."""
    width = max((len(name) for name, _ in rows), default=0)
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def build_model(
    env_id: str, kind: str, env_kwargs: dict[str, Any], device: str = "cpu"
) -> tuple[Any, dict[str, Any]]:
    """The world model for ``eval`` (``"ground-truth"`` or ``"pretrained"``) and the env keyword
    arguments to evaluate it with (the env the model was trained on, then ``env_kwargs``)."""
    models = importlib.import_module("wmplan_agents.models")
    if kind == "ground-truth":
        return models.ground_truth(env_id, **env_kwargs), dict(env_kwargs)
    if kind == "pretrained":
        obs_type = env_kwargs.get("obs_type", "state")
        model = models.load_pretrained(env_id, obs_type, device=device)
        return model, {**model.env_kwargs, **env_kwargs}
    from pathlib import Path

    stem = Path(kind)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    if stem.with_name(stem.name + ".json").is_file():  # a checkpoint, e.g. from `wmplan train`
        from wmplan_agents.checkpoint import load

        try:
            model = load(stem, map_location=device)
        except (ValueError, FileNotFoundError) as err:
            raise typer.BadParameter(str(err), param_hint="--model") from err
        from wmplan_agents.contracts import model_env

        return model, {**model_env(model)[1], **env_kwargs}
    raise typer.BadParameter(
        f"expected 'ground-truth', 'pretrained' or the path of a checkpoint, got {kind!r}",
        param_hint="--model",
    )


# -- commands --------------------------------------------------------------------------------


@app.command("eval")
def eval_command(
    env_id: Annotated[str, typer.Argument(help="a registered env id, e.g. WMPlan/PushT-v0")],
    planner: Annotated[str, typer.Option(help="a registered planner name")] = "cem",
    model: Annotated[
        str, typer.Option(help="'ground-truth', 'pretrained' or a checkpoint path")
    ] = "ground-truth",
    episodes: Annotated[int, typer.Option(min=1, help="number of episodes")] = 10,
    seed: Annotated[int, typer.Option(help="episode j is reset with seed + j")] = 0,
    horizon: Annotated[int | None, typer.Option(min=1, help="default: the preset")] = None,
    replan_every: Annotated[int | None, typer.Option(min=1, help="default: the preset")] = None,
    device: Annotated[str, typer.Option(help="torch device for planning")] = "cpu",
    planner_set: Annotated[
        list[str] | None, typer.Option("--set", help="planner keyword KEY=VALUE (repeatable)")
    ] = None,
    env_set: Annotated[
        list[str] | None, typer.Option("--env-set", help="env keyword KEY=VALUE (repeatable)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    workers: Workers = 1,
    address: Address = None,
) -> None:
    """Evaluate an MPC agent on ENV_ID and print its success rate, return and planning time."""
    from wmplan_agents.agent import MPCAgent
    from wmplan_agents.evaluation import evaluate
    from wmplan_agents.planners import planner_class

    try:
        cls = planner_class(planner)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--planner") from err
    planner_kwargs = parse_assignments(planner_set, "--set", cls)
    env_kwargs = parse_assignments(env_set, "--env-set", env_class(env_id), MAKE_KWARGS)
    try:
        world_model, env_kwargs = build_model(env_id, model, env_kwargs, device)
        agent = MPCAgent(
            world_model,
            planner,
            horizon=horizon,
            replan_every=replan_every,
            device=device,
            **planner_kwargs,
        )
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err)) from err
    try:
        result = evaluate(
            agent, env_id, episodes, seed, progress=progress, workers=workers, address=address,
            **env_kwargs,
        )  # fmt: skip
    except (ValueError, ImportError) as err:  # env/model mismatch, bad kwargs, no Ray
        raise typer.BadParameter(str(err)) from err
    rows = [
        ("env", env_id),
        ("model", model),
        ("planner", f"{planner} (horizon {agent.horizon}, replan every {agent.replan_every})"),
        ("preset", str(agent.preset)),
        ("episodes", f"{result.n_episodes} (seeds {seed}..{seed + episodes - 1})"),
        ("success rate", f"{result.success_rate:.3f}"),
        ("mean return", f"{result.mean_return:.4g}"),
        ("mean length", f"{result.mean_length:.1f}"),
        ("plan time / step", f"{1000 * result.plan_time_per_step_s:.2f} ms"),
    ]
    typer.echo(format_table(rows, title="wmplan eval"))


def _experiments() -> str:
    from wmplan_agents.reproduce import REPRODUCTIONS

    return ", ".join(REPRODUCTIONS)


@app.command("reproduce")
def reproduce_command(
    name: Annotated[str, typer.Argument(help=f"which experiment: {_experiments()}")],
    out: Annotated[str | None, typer.Option(help="output folder (default outputs/NAME)")] = None,
    settings_set: Annotated[
        list[str] | None, typer.Option("--set", help="setting KEY=VALUE (repeatable)")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads")] = 2,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    workers: Workers = 1,
    address: Address = None,
) -> None:
    """Reproduce a paper experiment: print its table beside the paper's, save plot and JSON."""
    import torch

    from wmplan_agents.reproduce import REPRODUCTIONS, reproduce

    if name not in REPRODUCTIONS:
        listing = ", ".join(f"{k} ({v.summary})" for k, v in REPRODUCTIONS.items())
        raise typer.BadParameter(f"unknown reproduction {name!r}; expected one of: {listing}")
    torch.set_num_threads(threads)
    settings_cls, _ = REPRODUCTIONS[name].load()
    overrides = parse_assignments(settings_set, "--set", settings_cls)
    try:
        result = reproduce(
            name, out, progress=progress, echo=typer.echo, workers=workers, address=address,
            **overrides,
        )  # fmt: skip
    except (ValueError, TypeError, ImportError) as err:
        raise typer.BadParameter(str(err)) from err
    for kind, path in result.files.items():
        typer.echo(f"{kind}: {path}")


@app.command("compare")
def compare_command(
    family: Annotated[
        str,
        typer.Argument(
            help="problem family: wall-detour, wall-detour-wide, wall-detour-latent, maze-arms, "
            "pusht-around or pusht-around-pixels"
        ),
    ],
    horizons: Annotated[
        list[int] | None, typer.Option("--horizon", min=1, help="env steps (repeatable)")
    ] = None,
    planners: Annotated[
        list[str] | None,
        typer.Option("--planner", help="registered name or grasp-cem (repeatable; default all)"),
    ] = None,
    trials: Annotated[int, typer.Option(min=1, help="problems per horizon")] = 100,
    model: Annotated[
        str, typer.Option(help="'default' (the family's model) or a checkpoint path")
    ] = "default",
    closed_loop: Annotated[bool, typer.Option(help="also run each planner closed loop")] = True,
    open_loop: Annotated[bool, typer.Option(help="run the open-loop budget ladder")] = True,
    out: Annotated[str, typer.Option(help="output folder")] = "outputs/compare",
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads")] = 2,
    workers: Workers = 1,
    address: Address = None,
) -> None:
    """Compare planners on long-horizon detour problems: success (simulator and model) against
    planning time and model evaluations; writes FAMILY.md, FAMILY.json and FAMILY.png."""
    import dataclasses
    import json
    from pathlib import Path

    import torch

    from registry import PLANNERS
    from wmplan_agents import compare

    torch.set_num_threads(threads)
    if family not in compare.FAMILIES:
        raise typer.BadParameter(
            f"unknown family {family!r}; expected one of {list(compare.FAMILIES)}"
        )
    chosen = dict(compare.DEFAULT_PLANNERS)
    if planners:
        by_name = {"grasp-cem": ("GRASP (CEM sync)", compare.DEFAULT_PLANNERS["GRASP (CEM sync)"])}
        for label, spec in compare.DEFAULT_PLANNERS.items():
            if not spec[1]:  # the plain entries, by registry name
                by_name[spec[0]] = (label, spec)
        unknown = [p for p in planners if p not in by_name and p not in PLANNERS]
        if unknown:
            raise typer.BadParameter(
                f"unknown planners {unknown}; expected names from {sorted(PLANNERS)} or grasp-cem"
            )
        chosen = dict(by_name.get(p, (p, (p, {}))) for p in planners)
    model_obj = None
    if model != "default":
        from wmplan_agents.checkpoint import CheckpointError, load

        try:
            model_obj = load(model)
        except (CheckpointError, OSError) as err:
            raise typer.BadParameter(str(err), param_hint="--model") from err
    try:
        result = compare.compare(
            family,
            tuple(horizons) if horizons else compare.DEFAULT_HORIZONS[family],
            chosen,
            n_trials=trials,
            closed_loop=closed_loop,
            open_loop=open_loop,
            model=model_obj,
            echo=typer.echo,
            workers=workers,
            address=address,
        )
    except (ValueError, ImportError) as err:
        raise typer.BadParameter(str(err)) from err
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(compare.report(result))
    typer.echo(text)
    (folder / f"{family}.md").write_text(text + "\n")
    data = {
        "cells": [dataclasses.asdict(c) for c in result.cells],
        "closed": [dataclasses.asdict(c) for c in result.closed],
    }
    (folder / f"{family}.json").write_text(json.dumps(data))
    if result.cells:  # the plot shows the open-loop ladder
        typer.echo(f"plot: {compare.plot(result, folder / f'{family}.png')}")


@app.command("collect")
def collect_command(
    env_id: Annotated[str, typer.Argument(help="a registered env id, e.g. WMPlan/PushT-v0")],
    out: Annotated[str, typer.Option(help="output .npz file")] = "data.npz",
    steps: Annotated[int, typer.Option(min=1, help="env steps to collect")] = 10_000,
    seed: Annotated[int, typer.Option(help="episode j is reset with seed + j")] = 0,
    policy: Annotated[str, typer.Option(help="'default' (data-like) or 'uniform'")] = "default",
    env_set: Annotated[
        list[str] | None, typer.Option("--env-set", help="env keyword KEY=VALUE (repeatable)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Collect transitions of ENV_ID with its data-like policy into an .npz dataset."""
    from wmplan_agents.workflows import collect_to_file

    try:
        path, data = collect_to_file(
            env_id, out, steps=steps, seed=seed, policy=policy,
            env_kwargs=parse_assignments(env_set, "--env-set", env_class(env_id), MAKE_KWARGS),
            progress=progress,
        )  # fmt: skip
    except (ValueError, TypeError, gym_error()) as err:
        raise typer.BadParameter(str(err)) from err
    n_eps = len(set(data.episodes.tolist()))
    typer.echo(f"wrote {path}: {len(data)} transitions in {n_eps} episodes")


@app.command("train")
def train_command(
    dataset: Annotated[str, typer.Argument(help="an .npz file written by 'wmplan collect'")],
    out: Annotated[str, typer.Option(help="checkpoint path (writes .json + .safetensors)")] = (
        "model"
    ),
    model: Annotated[str, typer.Option(help="mlp, conv, contrastive or helm")] = "mlp",
    action_repeat: Annotated[int, typer.Option(min=1, help="env actions per model action")] = 1,
    hidden: Annotated[int, typer.Option(min=1)] = 128,
    depth: Annotated[int, typer.Option(min=1)] = 2,
    latent_dim: Annotated[int, typer.Option(min=1, help="conv/contrastive latent size")] = 16,
    horizon: Annotated[int, typer.Option(min=1, help="prediction horizon (model steps)")] = 1,
    spectral: Annotated[float, typer.Option(min=0, help="spectral penalty weight")] = 0.0,
    infonce: Annotated[float, typer.Option(min=0, help="InfoNCE weight")] = 0.0,
    tau: Annotated[float, typer.Option(min=1e-6, help="InfoNCE temperature")] = 0.1,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    lr: Annotated[float, typer.Option(min=0)] = 1e-3,
    seed: Annotated[int, typer.Option()] = 0,
    plot: Annotated[str | None, typer.Option(help="loss-curve PNG path")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Train a world model on DATASET and save a checkpoint."""
    from wmplan_agents.workflows import TrainOptions, train_from_file

    options = TrainOptions(
        kind=model, action_repeat=action_repeat, hidden=hidden, depth=depth,
        latent_dim=latent_dim, horizon=horizon, spectral=spectral, infonce=infonce, tau=tau,
        epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
    )  # fmt: skip
    try:
        paths, result = train_from_file(dataset, out, options, plot_path=plot, progress=progress)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as err:
        raise typer.BadParameter(str(err)) from err
    rows = [
        ("checkpoint", f"{paths[0]} + {paths[1].name}"),
        ("epochs run", str(len(result.train_loss))),
        ("best validation loss", f"{result.best_val_loss:.4g} (epoch {result.best_epoch + 1})"),
        ("training time", f"{result.time_s:.1f} s"),
    ]
    typer.echo(format_table(rows, title="wmplan train"))


@app.command("demo")
def demo_command(
    episodes: Annotated[int, typer.Option(min=1, help="Push-T episodes")] = 5,
    planner: Annotated[str, typer.Option(help="a registered planner name")] = "grasp",
    seed: Annotated[int, typer.Option(help="episode j is reset with seed + j")] = 0,
    gif: Annotated[str, typer.Option(help="GIF of the first episode ('' to skip)")] = (
        "wmplan_demo.gif"
    ),
) -> None:
    """Plan Push-T goals with the shipped world model and the preset; print success, save a GIF."""
    from wmplan_agents.workflows import run_demo

    try:
        result = run_demo(
            episodes=episodes, planner=planner, seed=seed, gif_path=gif or None, echo=typer.echo
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    mean_ms = 1000 * sum(result.plan_time_per_step_s) / len(result.plan_time_per_step_s)
    typer.echo(
        f"success {sum(result.successes)}/{episodes} ({result.success_rate:.0%}), "
        f"planning {mean_ms:.1f} ms per env step on average"
    )
    if result.gif_path is not None:
        typer.echo(f"saved {result.gif_path}")


def gym_error() -> type[Exception]:
    """Gymnasium's error base class (unknown env ids and the like)."""
    import gymnasium

    return gymnasium.error.Error


if __name__ == "__main__":  # pragma: no cover
    app()
