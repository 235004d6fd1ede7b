"""The catalogue of bad inputs and faults a new user meets, each run as the user runs it (``launch.py`` in a
subprocess): what they typed, what must come back (exit status, a message naming the key or the file), and
what must not happen (a traceback on the console, a result record).

tests/fault_injection/test_bad_inputs.py runs a sample of it in the suite (and every config-only case
in-process through ``validate_config``); measurements/bad_inputs.py runs all of it and writes the table,
with the wall time of each failure. A case's ``setup`` writes the files it needs into the workspace and
returns placeholders for its arguments (``{pickle}``) and environment.
"""
from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from tests.helpers.replicas import write_fashion_mnist_replica

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    name: str              # what the user did, in a few words
    args: list             # launch.py arguments (overrides); "{key}" placeholders are filled by setup
    expect: str            # a substring of the error message (the key, the value or the file it names)
    kind: str              # config | command line | file | device | dataset
    setup: Optional[Callable[[Path], dict]] = None  # -> {"args": {placeholder: value}, "env": {...}}
    exit_code: int = 2
    in_process: bool = True  # config-only: also checked through validate_config, without a subprocess
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ setups
def truncated_fmnist(ws: Path) -> dict:
    root = ws / "fmnist_truncated"
    if not root.exists():
        shutil.copytree(ws / "fmnist", root)
        images = root / "train-images-idx3-ubyte.gz"
        images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    return {"env": {"GANREP_DATA": str(root)}, "args": {}}


def empty_folder(ws: Path) -> dict:
    (ws / "empty").mkdir(exist_ok=True)
    return {"args": {"empty": str(ws / "empty")}, "env": {}}


class _Payload:
    """Unpickling this runs ``os.system(command)`` in a loader that trusts pickles."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def code_pickle(ws: Path) -> dict:
    path, marker = ws / "network-snapshot-code.pkl", ws / "pwned"
    path.write_bytes(pickle.dumps({"G_ema": _Payload(f"touch {marker}")}))
    return {"args": {"pickle": str(path)}, "env": {}, "marker": marker}


def foreign_networks_pickle(ws: Path) -> dict:
    """An official-layout pickle whose persisted G_ema carries constructor arguments NVIDIA's Generator does
    not take and module source with a payload (which the real persistence loader would exec)."""
    from tests.helpers import pickles, stylegan

    path, marker = ws / "network-snapshot-foreign.pkl", ws / "pwned-by-module-src"
    G, D, g_kwargs, d_kwargs = stylegan.make_networks(c_dim=0)
    source = stylegan.MODULE_SRC
    stylegan.MODULE_SRC = f"import os\nos.system('touch {marker}')\n" + pickles.MODULE_SRC
    try:
        with pickles.fake_nvidia_modules(), open(path, "wb") as f:
            kwargs = {id(G): stylegan._easydicts({**g_kwargs, "payload_kwargs": {"run": "touch"}}),
                      id(D): stylegan._easydicts(d_kwargs)}
            stylegan.PersistencePickler(f, kwargs).dump(dict(G=G, D=D, G_ema=G, augment_pipe=None))
    finally:
        stylegan.MODULE_SRC = source
    return {"args": {"pickle": str(path)}, "env": {}, "marker": marker}


def zip_as_pickle(ws: Path) -> dict:
    path = ws / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    return {"args": {"pickle": str(path)}, "env": {}}


def any_pickle(ws: Path) -> dict:
    path = ws / "any.pkl"
    path.write_bytes(b"not used: the config fails first")
    return {"args": {"pickle": str(path)}, "env": {}}


# ------------------------------------------------------------------------------------------------- cases
CASES = [
    # values of the wrong type
    Case("negative step count", ["pretrain.steps=-5"], "pretrain.steps: -5 is not valid; must be an integer >= 1",
         "config"),
    Case("a word for an int option of the method", ["method.embed_dim=abc"],
         "method.embed_dim: 'abc' is not valid; must be an integer", "config"),
    Case("a word for a float option of the method", ["method.alpha=abc"],
         "method.alpha: 'abc' is not valid; must be a number", "config"),
    Case("a word for the seed", ["seed=abc"], "seed: 'abc' is not valid; must be an integer >= 0", "config"),
    Case("a word for a task option", ["task=probe_cifar10", "task.epochs=abc"],
         "task.epochs: 'abc' is not valid; must be an integer", "config"),
    Case("a word for a data option", ["data.image_size=abc"], "data.image_size: 'abc' is not valid", "config"),
    Case("a word for a switch", ["anchors=maybe"], "anchors: 'maybe' is not valid; must be true or false", "config"),
    # values out of range
    Case("sqsp alpha above 1", ["method.alpha=7"], "method.alpha: 7 is not valid; must be in (0, 1]", "config"),
    Case("squeeze with alpha below 1", ["method=squeeze", "method.alpha=0.5"],
         "method.alpha: 0.5 is not valid; must be 1", "config"),
    Case("a batch of one", ["pretrain.batch_size=1"], "pretrain.batch_size: 1 is not valid; must be an integer >= 2",
         "config"),
    Case("an evaluation limit of zero", ["eval.max_train_samples=0"], "eval.max_train_samples: 0 is not valid",
         "config"),
    Case("an even blur kernel", ["augment.blur_kernel=4"], "augment.blur_kernel: 4 is even", "config"),
    Case("warm-up longer than training", ["pretrain.steps=10", "pretrain.warmup_steps=20"],
         "pretrain.warmup_steps: 20 is longer than pretrain.steps=10", "config"),
    # choices
    Case("an unknown schedule", ["pretrain.lr_schedule=cosine"],
         "pretrain.lr_schedule: 'cosine' is not valid; must be one of per_step, per_epoch", "config"),
    Case("an unknown domain", ["method=vicreg", "method.domain=imagenet"],
         "method.domain: 'imagenet' is not valid; must be one of syn, real, syn_real", "config"),
    Case("an unknown input normalisation", ["backbone.input_norm=zscore"], "backbone.input_norm: 'zscore'", "config"),
    Case("an unknown backbone", ["backbone.arch=vit_b16"], "backbone.arch: 'vit_b16' is not a registered backbone",
         "config"),
    Case("an unknown task metric", ["task=linear_cifar10", "task.metric=top5"], "unknown metric 'top5'", "config"),
    Case("per-epoch schedule without an epoch length", ["pretrain.lr_schedule=per_epoch"],
         "pretrain.steps_per_epoch: null, but pretrain.lr_schedule=per_epoch needs it", "config"),
    Case("an unknown noise mode", ["generator=stylegan2ada", "data=cifar10", "generator.pickle={pickle}",
                                   "generator.noise_mode=loud"],
         "generator.noise_mode: 'loud' is not valid; must be one of const, random, none", "config", any_pickle),
    Case("a CIFAR-stem backbone on VOC detection", ["task=voc_det"],
         "backbone.arch: 'resnet18_cifar' has a CIFAR stem", "config"),
    Case("a framework backend for a ResNet-18", ["task=voc_det", "backend=detectron2", "backbone.arch=resnet18"],
         "backbone.arch: 'resnet18' does not fit backend=detectron2", "config"),
    Case("a backend on a task that has none", ["task=linear_cifar10", "backend=mmseg"],
         "task linear_cifar10 has one implementation and no backend to choose", "config"),
    Case("another task's backend", ["task=ade20k_seg", "backend=detectron2", "backbone.arch=resnet50"],
         "task.backend: 'detectron2' is not valid; must be one of builtin, mmseg", "config"),
    Case("a generator-quality measure that does not exist", ["quality.measure=is"],
         "quality.measure: 'is' is not valid; must be null or one of fid, fd_classifier", "config"),
    Case("an analysis that does not exist", ["analysis.name=tsne"],
         "analysis.name: 'tsne' is not valid; must be null or one of umap", "config"),
    Case("class labels from an unconditional generator", ["experiment=umap", "analysis.labels=generator"],
         "analysis.labels=generator: generator 'small_gan' is unconditional", "config", in_process=False),
    # options a preset set for another component
    Case("paper preset with the built-in GAN", ["preset=paper_cifar10", "generator=small_gan"],
         "generator small_gan has no option 'noise_mode' (set by preset=paper_cifar10", "config"),
    # the command line itself (Hydra cannot compose it)
    Case("an unknown method", ["method=byol"], "Could not find 'method/byol'", "command line", in_process=False),
    Case("a key that does not exist", ["pretrain.stepz=5"], "Key 'stepz' is not in struct", "command line",
         in_process=False),
    Case("an override that does not parse", ["pretrain.steps=[1,"], "no viable alternative at input", "command line",
         in_process=False),
    Case("two Hydra modes at once", ["-m", "--cfg", "job"], "Only one of --run, --multirun, --cfg", "command line",
         in_process=False),
    # devices
    Case("CUDA on a machine without it", ["device=cuda"], "device: 'cuda', but torch sees no CUDA device", "device",
         extra={"needs_no_cuda": True}),
    Case("a GPU index this machine lacks", ["device=cuda:99"], "device: 'cuda:99', but", "device"),
    Case("a device torch does not know", ["device=tpu"], "device: 'tpu' is not a device", "device"),
    # files the config names
    Case("no generator pickle given", ["generator=stylegan2ada", "data=cifar10"],
         "generator.pickle: not set; generator stylegan2ada needs a network pickle", "config"),
    Case("a generator pickle that does not exist", ["generator=stylegan2ada", "data=cifar10",
                                                    "generator.pickle=/nonexistent/network-snapshot.pkl"],
         "generator.pickle: '/nonexistent/network-snapshot.pkl': no such file", "config"),
    Case("a pickle that would run code", ["generator=stylegan2ada", "generator.pickle={pickle}", "anchors=false"],
         "refused, not loaded (nothing in the file was run)", "file", code_pickle, in_process=False),
    Case("a network pickle whose persisted module is not NVIDIA's",
         ["generator=stylegan2ada", "generator.pickle={pickle}", "anchors=false"],
         "refused, not loaded (nothing in the file was run): TypeError", "file", foreign_networks_pickle,
         in_process=False),
    Case("a torch checkpoint given as a network pickle",
         ["generator=stylegan2ada", "generator.pickle={pickle}", "anchors=false"],
         "this is a zip archive (torch.save checkpoint)", "file", zip_as_pickle, in_process=False),
    # data sets
    Case("a truncated dataset file", ["anchors=false"], "train-images-idx3-ubyte.gz: damaged or not the official format",
         "dataset", truncated_fmnist, in_process=False),
    Case("a data set that is not there", ["data=cifar10", "generator=small_gan", "data.root={empty}",
                                          "data.download=false", "anchors=false"],
         "cifar10 not found. Looked in:", "dataset", empty_folder, in_process=False),
]


# -------------------------------------------------------------------------------------------------- runs
@dataclass
class Outcome:
    case: Case
    exit_code: int
    message: str        # the first line of the error on stderr
    matched: bool       # the expected text is in the error
    traceback: bool     # a traceback reached the console
    records: int        # result records written
    seconds: float
    ran_payload: bool = False


def workspace(root: Path) -> Path:
    """A Fashion-MNIST replica and empty artifacts/results folders, shared by the cases."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "fmnist").exists():
        write_fashion_mnist_replica(root / "fmnist")
    return root


def fill(args: list, values: dict) -> list:
    return [re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), a) for a in args]


def split_flags(args: list) -> tuple[list, list]:
    """Hydra's flags (with the value of --cfg / --package) first, then the overrides."""
    flags, overrides, rest = [], [], iter(args)
    for a in rest:
        if a.startswith("-"):
            flags.append(a)
            if a in ("--cfg", "-c", "--package", "-p"):
                flags.append(next(rest))
        else:
            overrides.append(a)
    return flags, overrides


def run_case(case: Case, ws: Path, timeout: float = 600) -> Outcome:
    prepared = case.setup(ws) if case.setup else {"args": {}, "env": {}}
    out = ws / "out" / re.sub(r"\W+", "_", case.name)
    shutil.rmtree(out, ignore_errors=True)
    paths = [f"paths.artifacts={ws}/artifacts", f"paths.results={out}/results",
             f"paths.leaderboards={out}/leaderboards", f"hydra.run.dir={out}/run"]
    env = {**os.environ, "GANREP_DATA": str(ws / "fmnist"), "OMP_NUM_THREADS": "1", **prepared.get("env", {})}
    start = time.perf_counter()
    flags, overrides = split_flags(fill(case.args, prepared["args"]))
    result = subprocess.run([sys.executable, "launch.py", *flags, "preset=smoke", *paths, *overrides],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout)
    seconds = time.perf_counter() - start
    error_lines = [line for line in re.split(r"[\r\n]", result.stderr) if line.strip()]
    first = next((i for i, line in enumerate(error_lines) if line.startswith("error:")), None)
    if first is None:  # Hydra's own report of a command line it cannot compose: its first line says why
        first = next((i for i, line in enumerate(error_lines) if case.expect in line), 0 if error_lines else None)
    message = error_lines[first] if first is not None else ""
    if first is not None and message.rstrip().endswith(":") and first + 1 < len(error_lines):
        message += " " + error_lines[first + 1].strip()  # a block: its header and its first problem
    marker = prepared.get("marker")
    return Outcome(case, result.returncode, message, case.expect in result.stderr,
                   "Traceback (most recent call last)" in result.stdout + result.stderr,
                   len(list((out / "results").rglob("*.json"))) if (out / "results").exists() else 0, seconds,
                   bool(marker and Path(marker).exists()))
