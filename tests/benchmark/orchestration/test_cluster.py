"""``cluster=slurm`` and ``cluster=local``: a sweep becomes one job graph (benchmark/orchestration/cluster.py).

The SLURM test puts fake ``sbatch``/``srun`` executables on PATH (submitit runs ``sbatch <script>`` and
reads the job id from its output), so the sbatch scripts of the whole graph are checked without SLURM.
The local test runs the graph for real with submitit's LocalExecutor at preset=smoke.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.helpers.launching import REPO, real_fmnist_or_skip

FAKE_SBATCH = """#!/bin/bash
n=$(( $(ls {scripts} | wc -l) + 5001 ))
cp "$1" {scripts}/$n.sh
echo "Submitted batch job $n"
"""


def _launch(tmp_path, *args, env=None):
    paths = [f"paths.artifacts={tmp_path}/artifacts", f"paths.results={tmp_path}/results",
             f"paths.leaderboards={tmp_path}/leaderboards", f"cluster.log_dir={tmp_path}/submitit",
             f"hydra.sweep.dir={tmp_path}/runs", f"hydra.run.dir={tmp_path}/runs"]
    run_env = {k: v for k, v in os.environ.items() if k != "GANREP_DATA"}
    run_env.update(env or {})
    result = subprocess.run([sys.executable, "launch.py", "-m", *paths, *args], cwd=REPO, capture_output=True,
                            text=True, env=run_env, timeout=300)
    result.output = result.stdout + result.stderr
    return result


def test_slurm_sweep_is_a_job_graph(tmp_path):
    scripts, bin_dir = tmp_path / "sbatch_scripts", tmp_path / "bin"
    scripts.mkdir(), bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(scripts=scripts))
    (bin_dir / "srun").write_text("#!/bin/bash\nexit 0\n")
    for exe in bin_dir.iterdir():
        exe.chmod(0o755)
    result = _launch(tmp_path, "method=sqsp,vicreg", "task=voc_det,transfer_linear", "seed=0,1,2", "cluster=slurm",
                     "backbone.arch=resnet18", "backbone.width=64",  # voc_det refuses the CIFAR stem
                     "cluster.partition=gpu", "cluster.gpus_per_node=2", "cluster.cpus_per_task=6",
                     "cluster.pretrain_nodes=2", "cluster.pretrain_gpus_per_node=4",
                     "cluster.timeout_min=90", "cluster.setup=[module load cuda]",
                     env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.output[-3000:]
    assert "job logs:" in result.stdout and str(tmp_path / "submitit") in result.stdout

    jobs = {}  # job id -> (job kind, its sbatch script)
    for path in sorted(scripts.glob("*.sh")):
        text = path.read_text()
        kind = re.search(r"--job-name=ganrep-(\w+)", text).group(1)
        dep = re.search(r"--dependency=(\w+):([\d:]+)", text)
        jobs[path.stem] = {"kind": kind, "text": text, "cond": dep and dep.group(1),
                           "deps": dep.group(2).split(":") if dep else []}
    by_kind = {k: [i for i, j in jobs.items() if j["kind"] == k] for k in ("pretrain", "evaluate", "anchor", "leaderboard")}
    # 2 methods x 3 seeds = 6 pretraining hashes (the task is not part of it); 12 evaluations
    assert len(by_kind["pretrain"]) == 6 and len(by_kind["evaluate"]) == 12 and len(by_kind["leaderboard"]) == 1
    for job in jobs.values():
        for flag in ("--partition=gpu", "--cpus-per-task=6", "--time=90", "module load cuda"):
            assert flag in job["text"]
        # pretraining: one process (SLURM task) per GPU over 2 nodes x 4 GPUs; every other job: one process
        size = ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4") if job["kind"] == "pretrain" else (
            "--nodes=1", "--ntasks-per-node=1", "--gpus-per-node=2")
        for flag in size:
            assert flag in job["text"], (job["kind"], flag)
    for i in by_kind["pretrain"] + by_kind["anchor"]:
        assert jobs[i]["deps"] == []
    users = {}
    for i in by_kind["evaluate"]:
        job = jobs[i]
        assert job["cond"] == "afterok" and len(job["deps"]) == 1 and job["deps"][0] in by_kind["pretrain"]
        assert "--kill-on-invalid-dep=yes" in job["text"]
        users.setdefault(job["deps"][0], []).append(i)
    assert sorted(len(v) for v in users.values()) == [2] * 6  # each pretraining job feeds its two tasks
    board = jobs[by_kind["leaderboard"][0]]
    assert board["cond"] == "afterany" and set(board["deps"]) == set(by_kind["evaluate"] + by_kind["anchor"])
    # the printed graph names every job id
    for i in jobs:
        assert f"job {i:>8}" in result.stdout or f"job     {i}" in result.stdout


def test_local_sweep_runs_the_graph(tmp_path):
    real_fmnist_or_skip()
    # the pretraining job is two data-parallel gloo processes (submitit tasks), as on a SLURM node
    result = _launch(tmp_path, "preset=smoke", "method=sqsp", "task=linear_fmnist,linear_digits", "seed=0",
                     "cluster=local", "cluster.pretrain_processes=2", "cluster.gpus_per_node=0", "anchors=false",
                     "cluster.max_parallel=1",
                     "device=cpu", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.output[-3000:]
    assert "1 pretraining, 2 evaluation, 0 anchor and 1 leaderboard" in result.stdout
    assert "FAILED" not in result.stdout
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "smoke").rglob("*.json")]
    assert sorted(r["task"] for r in records) == ["linear_digits", "linear_fmnist"]
    assert len({r["pretrain_hash"] for r in records}) == 1
    assert all(r["timings"]["pretrain_reused"] for r in records)  # trained once, by the pretraining job
    (weights,) = (tmp_path / "artifacts" / "pretrain").glob("sqsp-*/method.pt")
    assert json.loads((weights.parent / "train_stats.json").read_text())["processes"] == 2
    board = (tmp_path / "leaderboards" / "smoke.md").read_text()
    assert "| sqsp" in board
    logs = sorted((tmp_path / "submitit").rglob("*_log.err"))
    assert len(logs) == 5  # 2 pretraining tasks, 3 jobs
    # max_parallel=1: one job after the other (a job's span: its log's first to last timestamp)
    spans = sorted(log_span(p) for p in logs if not p.name.endswith("_1_log.err"))
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans


def log_span(path):
    stamps = re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", path.read_text(), flags=re.M)
    return stamps[0], stamps[-1]


def test_a_preempted_stage_is_requeued_with_the_same_call():
    """On SLURM's preemption / time-limit signal submitit calls the job's ``checkpoint``: a stage must come
    back as the same call (it then resumes from its last verified checkpoint,
    tests/benchmark/pretraining/test_resume.py)."""
    import pickle

    import submitit

    from benchmark.orchestration.cluster import StageJob

    job = StageJob()
    assert job(max, 3, 7) == 7
    requeued = job.checkpoint(max, 3, 7)
    assert isinstance(requeued, submitit.helpers.DelayedSubmission)
    assert requeued.args == (max, 3, 7) and requeued.function is job
    assert pickle.loads(pickle.dumps(job))(min, 3, 7) == 3  # submitted jobs travel pickled


def test_local_scheduler_runs_whatever_is_ready_and_skips_after_a_failure(tmp_path, capsys):
    """cluster=local's scheduler: a quick pretraining's evaluation runs while a slow pretraining is still
    going (here the slow one only ends once that evaluation has run: a scheduler that waits in list order
    never gets there), an evaluation of a failed pretraining is skipped, the leaderboard job (afterany)
    runs after everything."""
    from benchmark.orchestration.cluster import Job, _run_local

    flag = tmp_path / "quick_evaluation_ran"
    wait_for_flag = ["timeout", "120", "bash", "-c", f"until [ -e {flag} ]; do sleep 0.1; done"]
    slow = Job("pretrain", "slow", subprocess.check_call, (wait_for_flag,))
    quick = Job("pretrain", "quick", subprocess.check_call, (["true"],))
    failing = Job("pretrain", "failing", subprocess.check_call, (["false"],))
    evals = [Job("evaluate", "after slow", subprocess.check_call, (["true"],), after=[slow]),
             Job("evaluate", "after quick", subprocess.check_call, (["touch", str(flag)],), after=[quick]),
             Job("evaluate", "after failing", subprocess.check_call, (["true"],), after=[failing])]
    board = Job("leaderboard", "board", subprocess.check_call, (["true"],), after=evals, condition="afterany")
    _run_local([slow, quick, failing, *evals, board], {"max_parallel": 3, "gpus_per_node": 0}, tmp_path)

    out = capsys.readouterr().out
    assert evals[2].handle is None and "skipped   evaluate    after failing" in out
    assert f"FAILED pretrain {failing.job_id} failing" in out
    for job in (slow, quick, evals[0], evals[1], board):
        assert job.handle.result() == 0, job.name
    assert out.index("after quick") < out.index("after slow")  # submitted first, though listed later


def test_the_leaderboard_job_renders_each_board_once(tmp_path, monkeypatch, capsys):
    """A sweep's leaderboard job shows every record there is, rendering each board once (not once per config:
    a sweep of hundreds of configs re-read every record hundreds of times)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from benchmark.orchestration import identity, stages
    from benchmark.reporting import leaderboards
    from benchmark.reporting.records import write_record

    cfgs = []
    for seed in (0, 1, 2):
        with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
            cfg = compose("config", overrides=["preset=smoke", "method=sqsp", f"seed={seed}",
                                               f"paths.results={tmp_path}/results",
                                               f"paths.leaderboards={tmp_path}/boards"])
        cfgs.append(OmegaConf.to_container(cfg, resolve=True))
    for cfg, top1 in zip(cfgs[:2], (60.0, 70.0)):  # seed 2's evaluation failed: no record
        write_record(tmp_path / "results", {
            "method": "sqsp", "task": cfg["task"]["name"], "preset": "smoke", "seed": cfg["seed"], "headline": "top1",
            "higher_is_better": True, "metrics": {"top1": top1}, "trained": True, "generator": "small_gan",
            "timings": {}, "config": cfg, "run_hash": identity.run_hash(cfg)})
    renders = []
    real_render = leaderboards.RENDERERS["preset"]
    monkeypatch.setitem(leaderboards.RENDERERS, "preset", lambda *a: renders.append(a) or real_render(*a))

    written = stages.refresh_all_leaderboards(cfgs)
    assert len(renders) == 1 and written == [str(tmp_path / "boards" / "smoke.md")]
    assert "65.00 ± 63.53 (n=2)" in (tmp_path / "boards" / "smoke.md").read_text()
    assert "missing records: 1" in capsys.readouterr().out
