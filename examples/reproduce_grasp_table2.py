"""GRASP Table 2: ablations of GRASP on Push-T at H = 40 (sync steps, state noise, stop-gradient).

Each row changes one switch of the full planner; all rows plan the same problems, open loop, scored
in the real simulator. Prints success (Wilson 95%) and median time to success beside the paper's;
saves a plot and a JSON file.

Run: python examples/reproduce_grasp_table2.py [--FIELD VALUE ...]: one option per field of the
settings dataclass (--help lists them); the same as `wmplan reproduce grasp-table2 --threads 1`.
"""

from wmplan_agents.reproduce import script_main

if __name__ == "__main__":
    script_main("grasp-table2", threads=1)
