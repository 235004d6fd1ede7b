"""Every bad input and fault of tests/fault_injection/catalogue.py, run as a user runs it, as one table:
exit status, the first line of the message, whether a traceback reached the console, how many result
records were written, and the wall time (config-only failures must take seconds: they are reported
before any data, GAN or pretraining work). Then the faults the suite recovers from (damaged cached
artifacts, two runs of one pretraining at once), with the line that tells the user.

    python measurements/bad_inputs.py [--out table.md] [--only <substring>]

Run it on a quiet machine: the wall times include Python's and torch's start-up (about 2-3 s on 2 cores).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fault_injection.catalogue import CASES, REPO, run_case, workspace  # noqa: E402


def cell(text: str, width: int = 150) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def failure_table(ws: Path, only: str) -> list[str]:
    rows = ["| # | bad input | kind | arguments | exit | message (first line) | traceback | record written | s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for k, case in enumerate(c for c in CASES if only in c.name):
        outcome = run_case(case, ws)
        flag = "" if outcome.matched and outcome.exit_code == case.exit_code else " **(unexpected)**"
        rows.append(f"| {k + 1} | {case.name}{flag} | {case.kind} | `{' '.join(case.args)}` | {outcome.exit_code} | "
                    f"{cell(outcome.message)} | {'yes' if outcome.traceback else 'no'} | "
                    f"{'yes' if outcome.records else 'no'} | {outcome.seconds:.1f} |")
        print(rows[-1], flush=True)
    return rows


def launch(ws: Path, out: str, *args: str, background: bool = False):
    """launch.py at preset=smoke; ``background``: started, its output to <out>/console.txt (a pipe nobody
    reads would fill and stall it while it holds the pretraining lock)."""
    paths = [f"paths.artifacts={ws}/artifacts_recovery", f"paths.results={ws}/{out}/results",
             f"paths.leaderboards={ws}/{out}/leaderboards", f"hydra.run.dir={ws}/{out}/run"]
    env = {**os.environ, "GANREP_DATA": str(ws / "fmnist"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "launch.py", "preset=smoke", "anchors=false", *paths, *args]
    if background:
        (ws / out).mkdir(parents=True, exist_ok=True)
        console = open(ws / out / "console.txt", "w")
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=console, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def line_with(text: str, pattern: str) -> str:
    """The first line matching ``pattern``, without the logger's "[time][module][LEVEL] - " prefix."""
    line = next((line for line in re.split(r"[\r\n]", text) if re.search(pattern, line)), "(no such line)")
    return re.sub(r"^(\[[^]]*\])+ - ", "", line)


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:  # flip one byte in the middle, where the tensors are
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def recovery_table(ws: Path) -> list[str]:
    rows = ["| # | fault | exit | what the user is told | record written |", "|---|---|---|---|---|"]
    first = launch(ws, "r0", "method=sqsp")
    assert first.returncode == 0, first.stderr[-2000:]
    for k, (what, pattern, how) in enumerate([
            ("method.pt truncated", "method.pt", "truncate"), ("method.pt with one byte flipped", "method.pt", "flip"),
            ("the small GAN's gan.pt truncated", "gan.pt", "truncate")]):
        target = next((ws / "artifacts_recovery").rglob(pattern))
        damage(target, how)
        result = launch(ws, f"r{k + 1}", "method=sqsp")
        records = list((ws / f"r{k + 1}" / "results").rglob("*.json"))
        told = line_with(result.stdout + result.stderr, r"WARNING\]? - damaged")
        rows.append(f"| {k + 1} | {what} | {result.returncode} | {cell(told, 300)} | "
                    f"{'yes (rebuilt)' if records else 'no'} |")
        print(rows[-1], flush=True)
    # two runs of one pretraining at once: the second waits, says so, and reuses the weights
    # long enough that the second run starts while the first still trains (smoke checkpoints every 2 steps)
    steps = ["pretrain.steps=600", "pretrain.checkpoint_every=200", "pretrain.log_every=50"]
    holder = launch(ws, "c1", "method=squeeze", *steps, background=True)
    time.sleep(10)
    waiter = launch(ws, "c2", "method=squeeze", *steps)
    holder.wait(timeout=900)
    holder_out = (ws / "c1" / "console.txt").read_text()
    said = line_with(waiter.stdout + waiter.stderr, "waiting for")
    reused = "reusing pretrained" in waiter.stdout + waiter.stderr
    rows.append(f"| 4 | the same pretraining launched twice at once | {holder.returncode}, {waiter.returncode} | "
                f"{cell(said, 300)} ({'the second reused the weights' if reused else 'the second trained again'}) | "
                f"yes, both |")
    print(rows[-1], flush=True)
    assert holder.returncode == 0, holder_out[-2000:]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    parser.add_argument("--only", default="", help="only the bad inputs whose name contains this")
    parser.add_argument("--no-recovery", action="store_true", help="skip the recovery scenarios")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(Path(tmp))
        rows = failure_table(ws, args.only)
        if not args.no_recovery:
            rows += ["", *recovery_table(ws)]
    if args.out:
        args.out.write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
