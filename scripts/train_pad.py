"""Train the Planning-as-Descent model for ``WMPlan/CubeSingle-v0`` (rerun to reproduce it).

Usage::

    python scripts/train_pad.py              # play data, into wmplan_agents/pretrained
    python scripts/train_pad.py --data noisy --out-dir /tmp/pad --minutes 10
    python scripts/train_pad.py --no-projector --out-dir /tmp/pad_noproj
    python scripts/train_pad.py --cubes 2 --out-dir /tmp/pad   # WMPlan/CubeDouble-v0

Collects ``--steps`` env steps with one of OGBench's oracles (``play`` or ``noisy``; episodes of
1,000 steps, the env made with ``mode="data_collection"``, as OGBench's datasets), caches them
under ``outputs/pad_data/``, trains :class:`~wmplan_agents.models.pad.PaDModel` with
:func:`~wmplan_agents.models.pad.train_pad` for at most ``--minutes`` of wall time, and saves a
checkpoint whose metadata records the recipe, the losses and the wall times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)
from wmplan_agents.checkpoint import save
from wmplan_agents.contracts import set_model_env
from wmplan_agents.data import Dataset, collect
from wmplan_agents.models.pad import PaDModel, train_pad
from wmplan_agents.reproduce.pad import ENV_IDS, PREFIXES, model_name

ROOT = Path(__file__).resolve().parents[1]


def data(kind: str, steps: int, seed: int, progress: bool, cubes: int = 1) -> tuple[Dataset, float]:
    """The oracle's data (cached by env, kind, size and seed) and the seconds collecting took."""
    path = ROOT / "outputs" / "pad_data" / f"{PREFIXES[cubes]}_{kind}_{steps}_{seed}.npz"
    if path.exists():
        return Dataset.load(path), 0.0
    start = time.perf_counter()
    env_kwargs = {"mode": "data_collection", "max_steps": 1000}
    dataset = collect(
        ENV_IDS[cubes], kind, steps, seed=seed, progress=progress, env_kwargs=env_kwargs
    )
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save(path)
    return dataset, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("play", "noisy"), default="play")
    parser.add_argument("--cubes", type=int, choices=(1, 2), default=1, help="CubeSingle/Double")
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--minutes", type=float, default=25.0, help="training wall-time limit")
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--no-projector", action="store_true")
    parser.add_argument("--small", action="store_true", help="64-wide, 2-block energy (CPU)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "wmplan_agents" / "pretrained")
    parser.add_argument("--collect-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env_id = ENV_IDS[args.cubes]
    dataset, collect_s = data(args.data, args.steps, args.seed, not args.no_progress, args.cubes)
    if args.collect_only:
        print(f"{len(dataset)} steps of {args.data} data ({collect_s:.0f} s)")
        return
    obs_dim = dataset.observations.shape[1]
    sizes = dict(latent_dim=64, d_model=64, n_layers=2, hidden=128) if args.small else {}
    model = PaDModel(
        obs_dim, dataset.action_space, projector=not args.no_projector, seed=args.seed, **sizes
    )
    result = train_pad(
        model, dataset, updates=args.updates, batch_size=args.batch_size, seed=args.seed,
        time_limit_s=60 * args.minutes, progress=not args.no_progress,
    )  # fmt: skip
    set_model_env(model, env_id, {})
    name = model_name(args.data, not args.no_projector, args.cubes)
    metadata = {
        "recipe": {
            "env_id": env_id, "data": args.data, "steps": args.steps, "episode_steps": 1000,
            "batch_size": args.batch_size, "minutes": args.minutes, "seed": args.seed,
            "threads": args.threads, "projector": not args.no_projector, "small": args.small,
        },
        "collect_s": collect_s,
        "train_s": result.wall_s,
        "updates": result.updates,
        "final_losses": result.history[-1] if result.history else {},
    }  # fmt: skip
    json_path, _ = save(model, args.out_dir / name, metadata=metadata)
    print(f"{result.updates} updates in {result.wall_s:.0f} s; saved {json_path}")
    print("last losses:", result.history[-1] if result.history else {})


if __name__ == "__main__":
    main()
