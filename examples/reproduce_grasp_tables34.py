"""GRASP Tables 3-4: short-horizon open-loop planning (H = 10, 20, 30 env steps) on Push-T,
PointMaze and WallSingle with CEM / LatCo / GD / GRASP.

Prints success (Table 3, Wilson 95%) and median time to success (Table 4) beside the paper's;
saves one plot per env and a JSON file.

Run: python examples/reproduce_grasp_tables34.py [--FIELD VALUE ...]: one option per field of the
settings dataclass (--help lists them); the same as `wmplan reproduce grasp-tables34 --threads 1`.
"""

from wmplan_agents.reproduce import script_main

if __name__ == "__main__":
    script_main("grasp-tables34", threads=1)
