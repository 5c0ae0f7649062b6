"""Every shipped world model: ``(env id, obs_type)`` -> its checkpoint's name in
``wmplan_agents/pretrained/`` (safetensors weights plus a JSON config recording the env id and
keyword arguments it was trained on). ``load_pretrained`` reads this table; the checkpoints are
built by ``scripts/train_pretrained.py`` and ``scripts/train_pad.py``. :data:`BENCHMARK_MODELS`
lists the checkpoints shipped for a benchmark rather than as an env's default model."""

from __future__ import annotations

SHIPPED_MODELS: dict[tuple[str, str], str] = {
    ("WMPlan/PushT-v0", "state"): "pusht_state",
    ("WMPlan/PushT-v0", "pixels"): "pusht_pixels",
    ("WMPlan/WallSingle-v0", "state"): "wallsingle_state",
    ("WMPlan/WallSingle-v0", "pixels"): "wallsingle_pixels",
    ("WMPlan/PointMaze-v0", "state"): "pointmaze_state",
    ("WMPlan/MiniGridEmpty-v0", "state"): "minigridempty_state",
    # a Planning-as-Descent model (plans with planner="pad"; scripts/train_pad.py)
    ("WMPlan/CubeSingle-v0", "state"): "cubesingle_pad",
}

# checkpoints in wmplan_agents/pretrained/ that are not an env's default: name -> what for
BENCHMARK_MODELS: dict[str, str] = {
    "wallsingle_latent": "WallSingle's state in a learned 64-d latent (`LatentStateDynamics`): "
    "the model of `wmplan compare wall-detour-latent`",
}
