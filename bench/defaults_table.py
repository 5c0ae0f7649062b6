"""The defaults table: every planner by name alone on every catalogue problem, closed loop.

    python bench/defaults_table.py                      # 20 episodes from seed 1000, all cells
    python bench/defaults_table.py --problems Push-T --planners cem grasp --episodes 5

Prints one line per cell (success, planning time per env step, the target where there is one),
then the Markdown table; ``--json PATH`` saves every cell. ``--set KEY=VALUE`` passes MPCAgent
keyword arguments to every cell (for tuning presets on other seeds; the table uses none).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from wmplan_agents.defaults_table import defaults_table, markdown, to_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", help="labels (or parts), or env ids")
    parser.add_argument("--planners", nargs="*", help="planner names (default: all)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1000, help="episode j uses seed + j")
    parser.add_argument("--workers", type=int, default=2, help="processes, 1 thread each")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, help="write every cell as JSON")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            overrides[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            overrides[key] = raw
    cells = defaults_table(
        problems=args.problems, planners=args.planners, episodes=args.episodes,
        seed=args.seed, workers=args.workers, overrides=overrides,
    )  # fmt: skip
    print()
    print(markdown(cells))
    if args.json:
        args.json.write_text(to_json(cells))


if __name__ == "__main__":
    main()
