"""Re-render leaderboards from the recorded results (they are never edited by hand).

    python -m benchmark.reporting --preset embedded             # leaderboards/embedded.md (+ .png)
    python -m benchmark.reporting --preset embedded --board ablation   # leaderboards/ablation_embedded.md
    python -m benchmark.reporting --suite transfer_linear       # leaderboards/transfer_linear.md
"""
from __future__ import annotations

import argparse

from benchmark.reporting.leaderboards import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the records' folder (paths.results)")
    parser.add_argument("--out", default="leaderboards", help="where the markdown and plots go")
    parser.add_argument("--preset", default="embedded")
    parser.add_argument("--board", help="render this paper table (launch/board/<name>.yaml) of the preset instead")
    parser.add_argument("--suite", help="render this transfer suite's leaderboard instead, e.g. transfer_linear")
    args = parser.parse_args()
    if args.suite:
        leaderboard = ("suite", args.results, args.out, args.suite)
    elif args.board:
        leaderboard = ("table", args.results, args.out, args.preset, args.board)
    else:
        leaderboard = ("preset", args.results, args.out, args.preset)
    print(render(leaderboard))


if __name__ == "__main__":
    main()
