"""Where GRASP's Push-T plans lose the block: contact in the plans and in GRASP's lifted states.

On the ``pusht-around`` problems (planned with ``PushTPhysicsModel``), for each planner at its
benchmark settings (``compare.DEFAULT_PLANNERS``), the returned plans rolled out under the model:
how many reach the goal, how many move the block at all (the block moves only when the agent
pushes it). For GRASP, also its lifted trajectory at the end of planning (start, virtual states,
goal): how far the block travels along it, how much of that travel the model's step from each
virtual state under the planned action reproduces, and at how many of the transitions that move
the block that step pushes it at all. The block moves only by contact, so where the step does
not push it the dynamics term has no gradient with respect to the action that would move it.
"GRASP, syncs only" is GRASP with both lifted step sizes 0: its plan is made by the syncs alone.

    python scripts/pusht_contact.py --horizon 75 --trials 100
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from registry import PLANNERS
from wmplan_agents import compare, contracts
from wmplan_agents.planners import make_planner
from wmplan_agents.planners.grasp import GRASP
from wmplan_agents.reproduce.open_loop import model_success


def block(model, z: torch.Tensor) -> torch.Tensor:
    """``[..., 8] -> [..., 3]``: the block's position (px) and angle (rad) of latents."""
    return model.to_state(z.reshape(-1, z.shape[-1]))[:, 2:5].reshape(*z.shape[:-1], 3)


def moved(b0: torch.Tensor, b1: torch.Tensor) -> torch.Tensor:
    """How far the block goes from ``b0`` to ``b1`` (``[..., 3]``): px, plus the angle change
    times 50 px (about the T's half-size)."""
    d = b1 - b0
    return (
        d[..., :2].norm(dim=-1)
        + 50.0 * torch.atan2(torch.sin(d[..., 2]), torch.cos(d[..., 2])).abs()
    )


LIFTED: list[torch.Tensor] = []  # the actions each sync of a Recording planner started from


class Recording(GRASP):
    """GRASP that keeps the lifted actions each sync starts from: the last of them and the final
    ``virtual_states`` are the pair the last iteration optimised (the sync then changes the
    actions, so the returned plan is not that pair)."""

    def _sync(self, model, prob, actions, *rest):
        LIFTED.append(actions.detach().clone())
        return super()._sync(model, prob, actions, *rest)

    def _sync_cem(self, model, prob, actions, *rest):
        LIFTED.append(actions.detach().clone())
        return super()._sync_cem(model, prob, actions, *rest)


# the benchmark's planners, plus GRASP with its lifted steps switched off: only its syncs (gradient
# steps on the actions through the rollout) change the plan
PLANNERS_HERE = {
    **compare.DEFAULT_PLANNERS,
    "GRASP, syncs only": ("grasp", {"lr_actions": 0.0, "lr_states": 0.0}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--horizon", type=int, default=75, help="env steps")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument(
        "--planners",
        nargs="*",
        default=["GRASP", "GRASP, syncs only", "GRASP (CEM sync)", "CEM", "GD"],
        choices=list(PLANNERS_HERE),
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/pusht_contact.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    family = "pusht-around"
    model = compare.family_model(family)
    # the benchmark's problems at this horizon (compare's default problem seed)
    problems = compare.detour_problems(
        family, args.horizon, args.trials, 10_000 + 1000 * args.horizon
    )
    steps = args.horizon // model.action_repeat
    with torch.no_grad():
        z0_all = model.encode(torch.as_tensor(problems.start_obs, dtype=torch.float32))
        zg_all = model.encode(torch.as_tensor(problems.goal_obs, dtype=torch.float32))
    report = {}
    for label in args.planners:
        name, kw = PLANNERS_HERE[label]
        kwargs = {**PLANNERS[name].kwargs, **kw, "seed": 0}
        planner = Recording(**kwargs) if name == "grasp" else make_planner(name, **kwargs)
        if name == "grasp" and planner.iterations % planner.sync_every:
            raise ValueError(f"{label}: the last iteration must end with a sync")
        rows: dict[str, list] = {"success": [], "moved": [], "lifted_travel": [],
                                 "explained": [], "pushing_at_travel": []}  # fmt: skip
        for lo in range(0, problems.n, args.batch):
            z0, zg = z0_all[lo : lo + args.batch], zg_all[lo : lo + args.batch]
            result = planner.plan(model, z0, zg, steps)
            sub = problems.subset(range(lo, lo + len(z0)))
            rows["success"] += model_success(model, sub, z0, result.actions)
            with torch.no_grad():
                roll = contracts.rollout(model, z0, result.actions)
                real = moved(block(model, z0), block(model, roll[:, -1]))
                rows["moved"] += (real > 1.0).tolist()
                virtual = result.info.get("virtual_states")
                if virtual is None:
                    continue
                path = torch.cat([z0[:, None], virtual, zg[:, None]], 1)  # [n, T + 1, 8]
                n, t1, d = path.shape
                b_path = block(model, path)
                lifted_actions = LIFTED[-1]
                pred = model.step(
                    path[:, :-1].reshape(-1, d), lifted_actions.reshape(n * (t1 - 1), -1)
                )
                lifted = moved(b_path[:, :-1], b_path[:, 1:])  # [n, T]
                # the block travel the model makes from each virtual state under its action
                stepped = moved(b_path[:, :-1], block(model, pred.reshape(n, t1 - 1, d)))
                moving = lifted > 1.0
                rows["lifted_travel"] += lifted.sum(1).tolist()
                rows["explained"] += (stepped.sum(1) / lifted.sum(1).clamp(min=1e-9)).tolist()
                pushes = (moving & (stepped > 1.0)).sum(1) / moving.sum(1).clamp(min=1)
                rows["pushing_at_travel"] += pushes.tolist()
        ok = np.array(rows["success"])
        shifted = np.array(rows["moved"])
        line = {
            "model successes": int(ok.sum()),
            "plans that move the block": int(shifted.sum()),
            "failures that never move it": int((~ok & ~shifted).sum()),
        }
        if rows["lifted_travel"]:
            lt, ex = np.array(rows["lifted_travel"]), np.array(rows["explained"])
            tt = np.array(rows["pushing_at_travel"])
            line.update({
                "lifted block travel, median px": float(np.median(lt)),
                "share of it the model reproduces, median (failures)": float(np.median(ex[~ok])),
                "share of it the model reproduces, median (successes)":
                    float(np.median(ex[ok])) if ok.any() else None,
                "block-moving lifted steps where the action pushes it, median (failures)":
                    float(np.median(tt[~ok])),
            })  # fmt: skip
        report[label] = line
        print(label, json.dumps(line), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"horizon": args.horizon, "n": problems.n, **report}, indent=1))


if __name__ == "__main__":
    main()
