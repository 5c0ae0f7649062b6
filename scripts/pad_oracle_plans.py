"""Which part of PaD fails on CubeSingle: its pipeline driven by the oracle's own futures.

Usage::

    python scripts/pad_oracle_plans.py                       # the shipped model, 4 per task
    python scripts/pad_oracle_plans.py --episodes 10 --noise 0 0.5 1 2 --seed 1000

PaD acts through two parts: the energy proposes a future of latents, the inverse dynamics
turns consecutive latents into actions. This script replaces the energy's future by the one
OGBench's plan oracle (noise-free, re-aimed at the task's target) produces from the current
state, encoded by the model, so the rest of the pipeline is what PaD ships: the inverse
dynamics along the plan, ``replan_every`` steps executed, then a new plan. Every
``replan_every`` steps the oracle is rolled ``model.future`` steps ahead in a shadow copy of the
simulation (``mujoco.mj_copyData``), along the plan it computed at the episode's start, so the
future is "what the oracle would do from here".

Per ``--noise`` level ``s``, Gaussian noise of std ``s`` per latent dimension is added to the
oracle's future before the inverse dynamics; the table gives success and the plans' latent
error relative to holding the current latent (``mean |plan - oracle| / mean |z_now -
oracle|``, means over every plan's latents while the oracle's plan runs), the measure of
docs/notes/pad-cube.md. Two reference rows: the oracle's own actions, and the shipped
energy's plans (the ``pad`` planner at its preset) measured against the oracle's future at the
states the oracle-driven episodes visit (its success is in docs/results.md), with their first
actions beside the oracle's.

``--data DATA.npz`` (a :class:`~wmplan_agents.data.Dataset` of the same oracle, e.g. the
training data cached by ``scripts/train_pad.py``) also measures the energy's refinement alone:
256 windows of the data, the goal 16-100 steps ahead and ``lambda`` the true distance, the
clean future corrupted to ``(1 - c) z + c * noise`` as in training, refined by the model's
``T`` steps, and compared with the clean future (the same latent error ratio). Planning starts
from ``c = 1``.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import mujoco
import numpy as np
import torch

import wmplan_envs  # noqa: F401  (registers the WMPlan/ ids)
from registry import PLANNERS
from wmplan_agents import checkpoint
from wmplan_agents.models.pad import _windows
from wmplan_agents.models.pretrained import pretrained_path
from wmplan_agents.planners import make_planner

# what is measured of the energy's plans: the latent error ratio, then the first action's error
KEYS = ("ratio", "the energy's plan", "the inverse dynamics on the oracle's future",
        "the zero action")  # fmt: skip


def _oracle_info(ogb) -> dict:
    """OGBench's info with the privileged target keys its plan oracle reads (task mode omits
    them; one cube, so the target block is cube 0)."""
    from ogbench.manipspace import lie

    info = ogb.compute_ob_info()
    mocap = ogb._cube_target_mocap_ids[0]
    info["privileged/target_block"] = 0
    info["privileged/target_block_pos"] = ogb._data.mocap_pos[mocap].copy()
    yaw = lie.SO3(wxyz=ogb._data.mocap_quat[mocap]).compute_yaw_radians()
    info["privileged/target_block_yaw"] = np.array([yaw])
    return info


class OracleFuture:
    """The noise-free plan oracle of one episode, and its futures from any state of it."""

    def __init__(self, env, shadow, seed: int) -> None:
        from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

        self.ogb, self.shadow = env.unwrapped.ogbench_env, shadow
        saved = np.random.get_state()  # noqa: NPY002  (the oracle draws from the global one)
        np.random.seed(seed)  # noqa: NPY002
        try:
            self.oracle = CubePlanOracle(env=self.ogb, noise=0.0)
            self.oracle.reset(None, _oracle_info(self.ogb))
        finally:
            np.random.set_state(saved)  # noqa: NPY002

    def running(self) -> bool:
        """Whether the oracle's plan still has steps ahead at the real env's time."""
        oracle = self.oracle
        index = int((self.ogb._data.time - oracle._t_init + 1e-7) // oracle._env_dt)
        return index < len(oracle._plan) - 1

    def action(self, ogb=None) -> np.ndarray:
        ogb = self.ogb if ogb is None else ogb
        return np.clip(self.oracle.select_action(None, _oracle_info(ogb)), -1, 1)

    def future(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``steps`` observations and actions if the oracle acted from here."""
        mujoco.mj_copyData(self.shadow._data, self.shadow._model, self.ogb._data)
        done = self.oracle._done
        obs, actions = [], []
        for _ in range(steps):
            actions.append(self.action(self.shadow))
            obs.append(self.shadow.step(actions[-1])[0])
        self.oracle._done = done
        return np.asarray(obs, dtype=np.float32), np.asarray(actions, dtype=np.float32)


def episode(model, planner, env, shadow, task: int, seed: int, noise, blend: float, gen) -> dict:
    """One episode: ``noise=None`` runs the oracle's actions; otherwise PaD's inverse dynamics
    along ``(1 - blend) * (oracle's future + noise) + blend * the energy's plan``. With a
    ``planner`` the energy's plans are made and measured at every plan. Returns success,
    length and the plans' errors. ``shadow``: a second OGBench cube env to roll the oracle in."""
    obs, _ = env.reset(seed=seed, options={"task_id": task})
    teacher = OracleFuture(env, shadow, seed)
    k, every = model.future, PLANNERS["pad"].replan_every
    ratios, actions = [], []
    energy: dict[str, list] = {key: [] for key in KEYS}
    for t in range(env.unwrapped.max_steps):
        if noise is None:
            action = teacher.action()
        else:
            if t % every == 0:
                # errors are measured while the oracle's plan runs (once it has finished, its
                # "future" is the arm holding still, not a way to the target)
                measured = teacher.running()
                with torch.no_grad():
                    z_now = model.encode(obs["observation"][None])
                    z_goal = model.encode(obs["desired_goal"][None])
                    future, oracle_actions = teacher.future(k)
                    true = model.encode(future)[None]
                    plan = true + noise * torch.randn(true.shape, generator=gen)
                    held = float((z_now[:, None] - true).norm(dim=-1).mean())
                if planner is not None:
                    energy_plan = planner.plan(model, z_now, z_goal, k).info["plan"]
                    plan = (1 - blend) * plan + blend * energy_plan
                    with torch.no_grad():
                        first = model.actions(z_now, energy_plan)[0, 0].numpy()
                        oracle_first = model.actions(z_now, true)[0, 0].numpy()
                    error = float((energy_plan - true).norm(dim=-1).mean())
                    if measured:
                        energy["ratio"].append((error, held))
                        firsts = (first, oracle_first, np.zeros_like(first))
                        for key, a in zip(KEYS[1:], firsts, strict=True):
                            energy[key].append(np.abs(a - oracle_actions[0]).mean())
                if measured:
                    ratios.append((float((plan - true).norm(dim=-1).mean()), held))
                with torch.no_grad():
                    actions = model.actions(z_now, plan)[0].numpy()
            action = actions[t % every]
        obs, _, terminated, truncated, info = env.step(action.astype(np.float32))
        if terminated or truncated:
            break
    return {"success": bool(info["is_success"]), "length": t + 1, "ratio": ratios,
            "energy": energy}  # fmt: skip


def denoising(model, data, levels=(0.0, 0.25, 0.5, 0.75, 1.0), windows=256) -> dict:
    """Latent error / holding of refined futures by corruption level (docstring)."""
    obs = torch.as_tensor(np.asarray(data.observations))
    nxt = torch.as_tensor(np.asarray(data.next_observations))
    k, far = model.future, model.max_lambda
    rng = np.random.default_rng(0)
    # starts whose next max_lambda rows stay in the episode (training's own window rule)
    t = torch.as_tensor(rng.choice(_windows(np.asarray(data.episodes), far), windows))
    d = torch.as_tensor(rng.integers(k, far + 1, windows))
    with torch.no_grad():
        z_now, z_goal = model.encode(obs[t]), model.encode(nxt[t + d - 1])
        rows = (t[:, None] + torch.arange(k)).reshape(-1)
        clean = model.encode(nxt[rows]).reshape(len(t), k, -1)
    held = (z_now[:, None] - clean).norm(dim=-1).mean()
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    out = {}
    for c in levels:
        start = (1 - c) * clean + c * noise
        plan, _ = model.refine(start, z_now, z_goal, d.float())
        out[c] = (float((start - clean).norm(dim=-1).mean() / held),
                  float((plan - clean).norm(dim=-1).mean() / held))  # fmt: skip
    return out


def _ratio(pairs: list[tuple[float, float]]) -> float:
    """Mean latent error over mean holding error (errors and holdings of many plans)."""
    errors, held = np.asarray(pairs).T
    return float(errors.mean() / held.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(pretrained_path("WMPlan/CubeSingle-v0")))
    parser.add_argument("--episodes", type=int, default=4, help="per task")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--noise", type=float, nargs="*", default=[0.0, 0.3, 1.0])
    parser.add_argument("--blend", type=float, nargs="*", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--data", default=None, help="a Dataset (.npz) for the refinement alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = checkpoint.load(args.model)
    if args.data:
        from wmplan_agents.data import Dataset

        print("| corruption c | latent error / holding before | after refinement |")
        print("|---|---|---|")
        for c, (before, after) in denoising(model, Dataset.load(args.data)).items():
            print(f"| {c} | {before:.2f} | {after:.2f} |")
        print(flush=True)
    if args.episodes < 1:
        return
    env = gym.make("WMPlan/CubeSingle-v0")
    shadow = gym.make("WMPlan/CubeSingle-v0").unwrapped.ogbench_env
    shadow.reset(seed=0)
    planner = make_planner("pad", seed=0)
    gen = torch.Generator().manual_seed(args.seed)
    rows = [("oracle's actions", None, 0.0)]
    rows += [(f"oracle's future + noise {x}", x, 0.0) for x in args.noise]
    rows += [(f"oracle's future blended {x} toward the energy's plan", 0.0, x) for x in args.blend]
    print("| plans | success | mean length of successes | latent error / holding |")
    print("|---|---|---|---|")
    energy: dict[str, list] = {}
    for label, noise, blend in rows:
        results = []
        for task in range(1, 6):
            for j in range(args.episodes):
                measure = planner if noise == 0.0 else None
                seed = args.seed + j
                result = episode(model, measure, env, shadow, task, seed, noise, blend, gen)
                results.append(result)
                if noise == 0.0 and blend == 0.0:  # the energy measured on the oracle's path
                    for key, values in results[-1]["energy"].items():
                        energy.setdefault(key, []).extend(values)
        wins = [r for r in results if r["success"]]
        length = np.mean([r["length"] for r in wins]) if wins else float("nan")
        ratio = _ratio([x for r in results for x in r["ratio"]]) if noise is not None else 0.0
        print(f"| {label} | {len(wins)}/{len(results)} | {length:.0f} | {ratio:.2f} |", flush=True)
    if energy.get("ratio"):
        print(f"| the energy's plans (pad preset), at the same states | - | - | "
              f"{_ratio(energy['ratio']):.2f} |")  # fmt: skip
        print("\nFirst action, mean absolute difference from the oracle's at the same states:")
        for key in KEYS[1:]:
            print(f"- {key}: {np.mean(energy[key]):.3f}")


if __name__ == "__main__":
    main()
