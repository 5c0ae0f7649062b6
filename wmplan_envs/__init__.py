"""wmplan environments: goal-conditioned planning benchmarks registered under ``WMPlan/``.

Importing this package registers every id listed in ``registry.ENVS``, so both
``import wmplan_envs; gym.make("WMPlan/PushT-v0")`` and
``gym.make("wmplan_envs:WMPlan/PushT-v0")`` work.
"""

from registry import register_envs

register_envs()

__all__ = ["register_envs"]
