"""GRASP Table 1: open-loop long-horizon Push-T (H = 40..80 env steps), CEM / LatCo / GD / GRASP.

Plans the same problems with each planner using the shipped Push-T model, executes every plan open
loop in the real simulator, and prints success (Wilson 95%) and median time to success beside the
paper's; saves a plot and a JSON file.

Run: python examples/reproduce_grasp_table1.py [--FIELD VALUE ...]: one option per field of the
settings dataclass (--help lists them); the same as `wmplan reproduce grasp-table1 --threads 1`.
"""

from wmplan_agents.reproduce import script_main

if __name__ == "__main__":
    script_main("grasp-table1", threads=1)
