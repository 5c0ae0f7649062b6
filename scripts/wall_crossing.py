"""Where GRASP's door detours fail: lifted states that pass through the wall.

On the ``wall-detour`` problems (the exact model) or ``wall-detour-latent`` (the learned 64-d
latent), GRASP at its benchmark settings; its final lifted trajectory (start, virtual states,
goal, read back as states) and the lifted actions of its last iteration (``pusht_contact.
Recording``). Counted per plan: does the lifted path cross the wall's line away from the door
(|y - door_y| > 4 where a transition crosses x = 32), and does the model's step from the state
before that crossing, under its lifted action, cross the line at all. The wall stops the point,
so a step that does not cross has no gradient with respect to the action that would carry the
point through the wall: the relaxation passes the wall where no action can.

    python scripts/wall_crossing.py --family wall-detour-latent --horizon 50
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from pusht_contact import LIFTED, Recording

from registry import PLANNERS
from wmplan_agents import compare
from wmplan_agents.reproduce.open_loop import decode_state, model_success
from wmplan_envs.wall import DOOR_HALF

WALL_X = 32.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="wall-detour-latent",
                        choices=["wall-detour", "wall-detour-latent"])  # fmt: skip
    parser.add_argument("--horizon", type=int, default=50, help="env steps")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--planners", nargs="*", default=["GRASP", "GRASP (CEM sync)"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = compare.family_model(args.family)
    problems = compare.detour_problems(
        args.family, args.horizon, args.trials, 10_000 + 1000 * args.horizon
    )
    steps = args.horizon // model.action_repeat
    door = np.array([o["door_y"] for o in problems.reset_options])
    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(problems.start_obs, dtype=torch.float32))
        zg = model.encode(torch.as_tensor(problems.goal_obs, dtype=torch.float32))
    for label in args.planners:
        name, kw = compare.DEFAULT_PLANNERS[label]
        result = Recording(**{**PLANNERS[name].kwargs, **kw, "seed": 0}).plan(model, z0, zg, steps)
        ok = np.array(model_success(model, problems, z0, result.actions))
        with torch.no_grad():
            path = torch.cat([z0[:, None], result.info["virtual_states"], zg[:, None]], 1)
            n, t1, d = path.shape
            pred = model.step(path[:, :-1].reshape(-1, d), LIFTED[-1].reshape(n * (t1 - 1), -1))
        xy = decode_state(model, path.reshape(-1, d))[:, :2].reshape(n, t1, 2)
        nxt = decode_state(model, pred)[:, :2].reshape(n, t1 - 1, 2)
        x0, x1, y0, y1 = xy[:, :-1, 0], xy[:, 1:, 0], xy[:, :-1, 1], xy[:, 1:, 1]
        crosses = (x0 - WALL_X) * (x1 - WALL_X) < 0
        y_at = y0 + (y1 - y0) * (WALL_X - x0) / np.where(crosses, x1 - x0, 1.0)
        through_wall = crosses & (np.abs(y_at - door[:, None]) > DOOR_HALF)
        model_crosses = (x0 - WALL_X) * (nxt[..., 0] - WALL_X) < 0
        cheat = through_wall.any(1)
        followed = (through_wall & model_crosses).sum(1)
        line = {
            "model successes": int(ok.sum()),
            "failures whose lifted path passes through the wall": int((cheat & ~ok).sum()),
            "failures": int((~ok).sum()),
            "successes whose lifted path passes through the wall": int((cheat & ok).sum()),
            "through-wall transitions the model's step also crosses":
                f"{int(followed.sum())} of {int(through_wall.sum())}",
        }  # fmt: skip
        print(label, json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
