"""Throughput of the paper's Squeeze-and-Span pretraining step, and how far the full schedule is from
the goal of the CIFAR-10 recipe (77,600 steps x 512 images) in under 30 minutes on one H100/H200-class GPU.

Nothing is downloaded: the generator is a StyleGAN2-ADA of the recipe's architecture with random
weights, the real images are random uint8 pixels held in memory. Everything else is the suite's own: the
config is the paper preset composed by Hydra as launch.py composes it (``preset=paper_<recipe>
method=sqsp``: the method's options, head sizes, loss weights, augmentation, schedule, autocast, generator
precision and noise mode), and the pieces are built as benchmark/orchestration/pipeline.py ``build`` builds
them: the generator adapter (``StyleGAN2ADAGenerator``), the student (``build_backbone``), the method
(``METHODS.get("sqsp")``), its augmentations (``make_augment`` with the preset's ``augment`` section, the
crop size), SGD (``build_optimizer``) and the lr (``lr_at``). One step is what
benchmark/pretraining/engine.py ``TrainingLoop`` does in one process: set the lr; sample round(alpha B)
synthetic images under no_grad; move B - n_syn real images from memory to the device; ``training_step``
(under bf16 autocast on CUDA when ``pretrain.autocast`` is bfloat16; the method in channels-last memory);
the finite-loss check (a host sync each step); zero_grad, backward, optimizer step.

Recipes (``--recipe``):

* ``cifar10`` (preset paper_cifar10): NVIDIA's unconditional CIFAR-10 StyleGAN2-ADA architecture
  (``CIFAR10_G_KWARGS`` with c_dim 0: z = w = 512, 512 channels in every block b4..b32, mapping 2 layers,
  num_fp16_res 4), the CIFAR ResNet-18 student, 32 px; 800 epochs x 97 steps = 77,600 steps.
* ``cifar100`` (paper_cifar100): the same architectures and schedule (the authors' CIFAR-100 generator is
  a CIFAR-config StyleGAN2-ADA too); loss weights 10/10/1.
* ``stl10`` (paper_stl10): a 128 px unconditional StyleGAN2-ADA, ASSUMED channel_base 32768,
  channel_max 512 (512 channels up to b64, 256 at b128), mapping 8 layers (the stylegan2 default),
  num_fp16_res 4: the authors' pickle is ``stl10u-my128-...pkl``, a config of their own whose values we
  could not read. torchvision ResNet-18 student on 64 px crops of 96 px real images; 200 epochs x 205
  steps = 41,000 steps.

What is measured, after one FLOP-counting step and ``--warmup`` steps:

* images/s = batch / step time of ``--steps`` un-instrumented engine steps (one sync before and after).
* The time split: ``--steps`` more steps with a device sync (torch.cuda.synchronize on CUDA; nothing to
  wait for on the CPU) and a wall-clock reading at each phase boundary: generator sampling, real batch
  (host to device), augmentation (every call of the method's augmentations, timed inside
  ``training_step`` with a sync on each side), forward + loss (``training_step`` minus augmentation), the
  finite-loss check, backward, optimizer step. The syncs serialise the CPU and the GPU, so on CUDA the
  phase sum exceeds an un-instrumented step; both are printed. "host sync cost" = un-instrumented step
  time minus that of the same steps without the finite-loss check (``--sync-ablation``; on by default on
  CUDA); on CUDA also the number of synchronizing calls in one step (torch.cuda.set_sync_debug_mode) and
  the source lines they come from.
* Peak memory: torch.cuda.max_memory_allocated over the timed steps; on the CPU the process's peak
  resident set (resource.getrusage ru_maxrss), which includes everything before.
* FLOPs of one step with torch.utils.flop_counter.FlopCounterMode (convolutions and matmuls: generator
  forward; augmentation, student, projector and squeeze module forward and backward), counted at the
  measured batch and scaled linearly to the recipe's 512 (every counted op is linear in the batch: the
  2048 x 2048 covariance products are N x D x D). Elementwise work (BatchNorm, the optimizer, the
  generator's modulation) is not counted, as MFU conventions do.
* The device's dense matmul peak, measured: an n x n matmul in the training dtype (bf16 on CUDA, fp32 on
  the CPU). MFU = FLOPs per step / step time / that peak.
* Projections of the full schedule: steps x 512 images at the measured images/s (an extrapolation when
  ``--batch`` is not 512); the FLOP-count lower bound at the measured peak; and on an H100/H200-class
  GPU from the SPEC figure of 989 TFLOP/s dense bf16 (H100 / H200 SXM; not a measurement) at 100% and at
  ``--assumed-mfu`` (default 40%), with the MFU that 30 minutes would need.

    python measurements/paper_throughput.py --recipe cifar10 --device cuda
    python measurements/paper_throughput.py --recipe all --device cpu --batch 32 --steps 3 --warmup 1
    python measurements/paper_throughput.py --recipe cifar10 --generator-precision bfloat16 --autocast bfloat16

``--set KEY=VALUE`` passes any other override to the composed config (e.g. ``--set augment.synthetic=
per_sample``); ``--tiny`` shrinks every network (for tests); ``main(argv)`` returns the result rows.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import platform
import resource
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from benchmark.backbones import build_backbone  # noqa: E402
from benchmark.data.in_memory import InMemoryImages  # noqa: E402
from benchmark.generators import stylegan2ada as sg  # noqa: E402
from benchmark.generators.stylegan2ada_zoo import StyleGAN2ADAGenerator, freeze  # noqa: E402
from benchmark.interfaces import Batch, MethodContext  # noqa: E402
from benchmark.pretraining.augment import Augment, make_augment  # noqa: E402
from benchmark.pretraining.engine import build_optimizer, lr_at  # noqa: E402
from benchmark.registry import METHODS  # noqa: E402

log = logging.getLogger("paper_throughput")

PAPER_BATCH = 512
H100_SPEC_BF16_FLOPS = 989e12  # H100 / H200 SXM dense BF16 tensor-core spec (no sparsity): a spec, not a measurement
GOAL_SECONDS = 30 * 60  # the goal: the CIFAR-10 recipe in under 30 minutes on one H100/H200-class GPU
GOAL_RECIPE = "cifar10"
PHASES = ("generator", "real batch", "augmentation", "forward+loss", "loss check", "backward", "optimizer")


# ------------------------------------------------------------------------------------------- recipes

STL10_G_KWARGS = dict(  # ASSUMED (see the module doc): the authors' stl10u-my128 config is not published
    z_dim=512, c_dim=0, w_dim=512, img_resolution=128, img_channels=3, mapping_kwargs=dict(num_layers=8),
    synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256))
RECIPES = {  # name -> (preset, generator architecture, real image size in px)
    "cifar10": ("paper_cifar10", dict(sg.CIFAR10_G_KWARGS, c_dim=0), 32),
    "cifar100": ("paper_cifar100", dict(sg.CIFAR10_G_KWARGS, c_dim=0), 32),
    "stl10": ("paper_stl10", STL10_G_KWARGS, 96),
}
TINY_OVERRIDES = ["head.hidden_dim=32", "head.embed_dim=64"]


@dataclass
class Recipe:
    name: str
    cfg: dict  # the composed config (preset=paper_<name> method=sqsp + overrides)
    generator_kwargs: dict
    real_size: int  # real images in memory, px
    crop_size: int  # what the student sees, px
    notes: list = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.cfg["pretrain"]["steps"])

    @property
    def schedule(self) -> str:
        per_epoch = self.cfg["pretrain"].get("steps_per_epoch")
        return f"{self.steps // per_epoch} epochs x {per_epoch} steps" if per_epoch else f"{self.steps} steps"


def compose_config(preset: str, overrides: list[str]) -> dict:
    """The config launch.py would run: ``preset=<preset> method=sqsp`` plus ``overrides``, resolved."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        return OmegaConf.to_container(compose("config", overrides=[f"preset={preset}", "method=sqsp", *overrides]),
                                      resolve=True)


def make_recipe(name: str, tiny: bool = False, overrides: Optional[list] = None) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose {', '.join(RECIPES)} or all")
    preset, g_kwargs, real_size = RECIPES[name]
    extra = list(overrides or [])
    notes = []
    if tiny:
        g_kwargs = dict(g_kwargs, z_dim=32, w_dim=32, mapping_kwargs=dict(num_layers=2),
                        synthesis_kwargs=dict(g_kwargs["synthesis_kwargs"], channel_base=1024, channel_max=16))
        extra = TINY_OVERRIDES + (["backbone.width=8"] if name != "stl10" else []) + extra
        notes.append("--tiny: narrow networks, the numbers are not the recipe's")
    cfg = compose_config(preset, extra)
    crop = cfg["augment"]["crop_size"] or real_size
    if name == "stl10":
        notes.append("generator ASSUMED: 128 px, channel_base 32768, channel_max 512, mapping 8 layers")
    return Recipe(name, cfg, g_kwargs, real_size, crop, notes)


# ----------------------------------------------------------------------------------------- the step

class PhaseTimer:
    """Wall-clock time per phase, with a device sync at every boundary; inactive: no syncs at all."""

    def __init__(self, device: torch.device):
        self.device, self.active = device, False
        self.totals = collections.defaultdict(float)
        self.last = 0.0

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self) -> None:
        if self.active:
            self.sync()
            self.last = time.perf_counter()

    def mark(self, phase: str) -> None:
        if self.active:
            self.sync()
            now = time.perf_counter()
            self.totals[phase] += now - self.last
            self.last = now


class TimedAugment(nn.Module):
    """A method's augmentation, timed (a sync on each side) while the timer is active; its attributes
    (``same_on_batch``, ``description``) read through."""

    def __init__(self, inner: nn.Module, timer: PhaseTimer):
        super().__init__()
        self.inner, self.timer = inner, timer

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.timer.active:
            return self.inner(images)
        self.timer.sync()
        t = time.perf_counter()
        out = self.inner(images)
        self.timer.sync()
        self.timer.totals["augmentation"] += time.perf_counter() - t
        return out


@dataclass
class Parts:
    """What benchmark/orchestration/pipeline.py ``build`` makes for a run of the recipe, with a random-weight
    generator and random real images."""

    generator: StyleGAN2ADAGenerator
    method: nn.Module
    real: InMemoryImages
    pretrain_cfg: dict  # the preset's pretrain section, batch_size = the measured batch
    precision: str  # the generator's, as asked
    noise_mode: str
    device: torch.device

    def one_batch(self, seed: int = 0) -> Batch:
        n_syn, n_real = self.method.split_batch(self.pretrain_cfg["batch_size"])
        with torch.no_grad():
            syn = self.generator.sample(n_syn, rng=torch.Generator(self.device).manual_seed(seed))
        real = self.real.batches(n_real, torch.Generator().manual_seed(seed))
        return Batch(syn=syn, real=next(real).to(self.device))


def build_parts(recipe: Recipe, device: torch.device, batch: int, precision: Optional[str] = None,
                fused_modconv: str = "auto", channels_last: bool = True,
                gather_batch: Optional[Callable] = None) -> Parts:
    """The generator (``precision`` None = the preset's ``generator.precision``), the method with its student
    and augmentations (as pipeline.build: crop size, the preset's augment section), the real images."""
    cfg = recipe.cfg
    torch.manual_seed(0)
    G = sg.Generator(**recipe.generator_kwargs)
    fused = {"auto": None, "fused": True, "unfused": False}[fused_modconv]
    precision = precision or cfg["generator"].get("precision", "float32")
    noise_mode = cfg["generator"].get("noise_mode", "const")
    generator = freeze(StyleGAN2ADAGenerator(freeze(G, device), None, noise_mode=noise_mode, precision=precision,
                                             fused_modconv=fused), device)
    torch.manual_seed(int(cfg["seed"]))
    backbone = build_backbone(cfg["backbone"], 3)
    crop = recipe.crop_size
    augment_cfg = {k: v for k, v in cfg["augment"].items() if k != "crop_size"}
    ctx = MethodContext(backbone=backbone, generator=generator, image_channels=3, image_size=crop,
                        make_augment=lambda source="real", **kw: make_augment(crop, 3, augment_cfg, source, **kw),
                        **({"gather_batch": gather_batch} if gather_batch is not None else {}))
    cls = METHODS.get("sqsp")
    method = cls(cls.make_config({k: v for k, v in cfg["method"].items() if k != "name"}), ctx).to(device).train()
    if channels_last:
        method.to(memory_format=torch.channels_last)
    n_real = method.split_batch(batch)[1]
    pool = max(4 * n_real, 256)
    g = torch.Generator().manual_seed(0)
    real = InMemoryImages(torch.randint(0, 256, (pool, 3, recipe.real_size, recipe.real_size), dtype=torch.uint8,
                                        generator=g), torch.zeros(pool, dtype=torch.int64), ["random"])
    return Parts(generator, method, real, dict(cfg["pretrain"], batch_size=batch), precision, noise_mode, device)


class PaperStep:
    """The recipe's parts, optimizer and real-image stream; ``step()`` is one engine step."""

    def __init__(self, recipe: Recipe, args, device: torch.device):
        self.recipe, self.device, self.batch = recipe, device, args.batch
        parts = build_parts(recipe, device, args.batch, args.generator_precision, args.generator_fused_modconv,
                            args.channels_last)
        self.generator, self.method, self.pretrain_cfg = parts.generator, parts.method, parts.pretrain_cfg
        self.precision, self.noise_mode = parts.precision, parts.noise_mode
        self.generator_precision = self.generator.G.synthesis.effective_precision(device)
        self.optimizer = build_optimizer(self.method, self.pretrain_cfg)
        self.peak_lr = self.optimizer.param_groups[0]["lr"]
        self.n_syn, self.n_real = self.method.split_batch(args.batch)
        self.real_batches = parts.real.batches(self.n_real, torch.Generator().manual_seed(0))
        self.sample_rng = torch.Generator(device).manual_seed(0)
        self.timer = PhaseTimer(device)
        for name, child in list(self.method.named_children()):
            if isinstance(child, Augment):
                setattr(self.method, name, TimedAugment(child, self.timer))
        self.autocast_name = args.autocast or recipe.cfg["pretrain"].get("autocast", "bfloat16")
        self.autocast = device.type == "cuda" and self.autocast_name == "bfloat16"
        self.step_index = 0

    def batch_parts(self) -> Batch:
        with torch.no_grad():
            syn = self.generator.sample(self.n_syn, rng=self.sample_rng)
        self.timer.mark("generator")
        real = next(self.real_batches).to(self.device, torch.float32, non_blocking=True)
        self.timer.mark("real batch")
        return Batch(syn=syn, real=real)

    def step(self, check_finite: bool = True) -> None:
        """One engine step (benchmark/pretraining/engine.py TrainingLoop.run, one process)."""
        pc = self.pretrain_cfg
        lr = lr_at(self.step_index, pc["steps"], self.peak_lr, pc["warmup_steps"], pc.get("lr_schedule", "per_step"),
                   pc.get("steps_per_epoch"))
        for group in self.optimizer.param_groups:
            group["lr"] = self.peak_lr if group["fixed_lr"] else lr
        self.timer.start()
        batch = self.batch_parts()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.method.training_step(batch)
        self.timer.mark("forward+loss")
        loss = out["loss"]
        if check_finite and not torch.isfinite(loss):  # the engine's per-step check: a host sync
            raise FloatingPointError(f"loss is {loss.item()} at step {self.step_index}")
        self.timer.mark("loss check")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.timer.mark("backward")
        self.optimizer.step()
        self.timer.mark("optimizer")
        self.step_index += 1

    def count_flops(self) -> tuple[int, int]:
        """(generator FLOPs, student forward + backward FLOPs) of one step at this batch."""
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as gen_counter:
            with torch.no_grad():
                syn = self.generator.sample(self.n_syn, rng=self.sample_rng)
        real = next(self.real_batches).to(self.device, torch.float32)
        with FlopCounterMode(display=False) as student_counter:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                out = self.method.training_step(Batch(syn=syn, real=real))
            out["loss"].backward()
        self.optimizer.zero_grad(set_to_none=True)
        return gen_counter.get_total_flops(), student_counter.get_total_flops()


# --------------------------------------------------------------------------------------- measuring

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(runner: PaperStep, n: int, desc: str, check_finite: bool = True, quiet: bool = False) -> float:
    """Seconds per step of ``n`` un-instrumented steps."""
    sync(runner.device)
    t0 = time.perf_counter()
    for _ in tqdm(range(n), desc=desc, leave=False, disable=quiet, mininterval=1):
        runner.step(check_finite=check_finite)
    sync(runner.device)
    return (time.perf_counter() - t0) / max(n, 1)


def measured_matmul_peak(device: torch.device, n: int, iters: int, groups: int = 5,
                         bf16: bool = False) -> tuple[float, str]:
    """FLOP/s of an n x n x n matmul in the training dtype (bf16 on CUDA, fp32 on the CPU): ``groups`` timed
    groups of ``iters`` matmuls, the fastest group counts (other processes on a shared machine only slow
    groups down)."""
    dtype = torch.bfloat16 if device.type == "cuda" or bf16 else torch.float32
    g = torch.Generator(device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    for _ in range(2):
        a @ b
    best = math.inf
    for _ in range(groups):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 * iters / best, str(dtype).replace("torch.", "")


def count_host_syncs(runner: PaperStep) -> tuple[int, list[str]]:
    """CUDA only: synchronizing calls in one engine step, and where they come from (most frequent first)."""
    torch.cuda.synchronize(runner.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            runner.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    where = collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in syncs)
    return len(syncs), [f"{k} x{v}" for k, v in where.most_common(8)]


def peak_memory_bytes(device: torch.device) -> float:
    if device.type == "cuda":
        return float(torch.cuda.max_memory_allocated(device))
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def measure(recipe: Recipe, args, device: torch.device) -> dict:
    runner = PaperStep(recipe, args, device)
    quiet = args.quiet
    log.info("%s: batch %d (%d synthetic + %d real), generator %s (noise %s), autocast %s, device %s", recipe.name,
             args.batch, runner.n_syn, runner.n_real, runner.generator_precision, runner.noise_mode,
             runner.autocast_name if device.type == "cuda" else "none (CPU)", describe(device))
    gen_flops, student_flops = runner.count_flops()  # eager, before any compile; also the first warm-up step
    if args.compile:
        runner.method.backbone = torch.compile(runner.method.backbone)
        runner.method.projector = torch.compile(runner.method.projector)
    for _ in tqdm(range(args.warmup), desc=f"{recipe.name} warm-up", leave=False, disable=quiet):
        runner.step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_s = timed_steps(runner, args.steps, f"{recipe.name} engine steps", quiet=quiet)
    sync_ablation = args.sync_ablation if args.sync_ablation is not None else device.type == "cuda"
    step_no_sync_s = (timed_steps(runner, args.steps, f"{recipe.name} steps without the loss check",
                                  check_finite=False, quiet=quiet) if sync_ablation else None)
    runner.timer.active = True
    for _ in tqdm(range(args.steps), desc=f"{recipe.name} instrumented steps", leave=False, disable=quiet):
        runner.step()
    runner.timer.active = False
    phases = {p: runner.timer.totals[p] / args.steps for p in PHASES}
    phases["forward+loss"] -= phases["augmentation"]  # augmentation runs inside training_step
    memory = peak_memory_bytes(device)
    syncs, sync_sites = count_host_syncs(runner) if device.type == "cuda" else (None, [])
    peak, peak_dtype = measured_matmul_peak(device, args.peak_size, args.peak_iters)
    peak_bf16 = (measured_matmul_peak(device, min(args.peak_size, 1024), args.peak_iters, bf16=True)[0]
                 if device.type == "cpu" and runner.generator_precision == "bfloat16" else None)

    step_flops = gen_flops + student_flops
    scale = PAPER_BATCH / args.batch
    flops_512 = step_flops * scale
    images_per_s = args.batch / step_s
    total_images = recipe.steps * PAPER_BATCH
    projected_s = total_images / images_per_s
    total_flops = recipe.steps * flops_512
    h100_s = total_flops / H100_SPEC_BF16_FLOPS
    row = {
        "recipe": recipe.name, "device": describe(device), "batch": args.batch,
        "synthetic": runner.n_syn, "real": runner.n_real,
        "preset": recipe.cfg["preset"], "generator_precision": runner.precision,
        "generator_precision_effective": runner.generator_precision,
        "generator_fused_modconv": args.generator_fused_modconv, "generator_noise_mode": runner.noise_mode,
        "autocast": runner.autocast_name if device.type == "cuda" else "none (CPU)",
        "channels_last": args.channels_last, "compile": args.compile, "tiny": args.tiny, "overrides": args.set,
        "images_per_s": images_per_s, "step_ms": step_s * 1e3,
        "step_ms_without_loss_check": None if step_no_sync_s is None else step_no_sync_s * 1e3,
        "host_sync_cost_ms": None if step_no_sync_s is None else (step_s - step_no_sync_s) * 1e3,
        "host_syncs_per_step": syncs, "host_sync_sites": sync_sites,
        "phase_ms": {p: v * 1e3 for p, v in phases.items()}, "phase_sum_ms": sum(phases.values()) * 1e3,
        "peak_memory_gib": memory / 2 ** 30,
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if device.type == "cuda" else "process max RSS",
        "gflop_step_measured_batch": step_flops / 1e9, "gflop_generator_measured_batch": gen_flops / 1e9,
        "gflop_student_measured_batch": student_flops / 1e9,
        "gflop_step_batch_512": flops_512 / 1e9, "flop_scale_to_512": scale,
        "measured_peak_tflops": peak / 1e12, "peak_dtype": peak_dtype, "peak_matmul_n": args.peak_size,
        "mfu": step_flops / step_s / peak,
        "measured_peak_tflops_bf16_cpu": None if peak_bf16 is None else peak_bf16 / 1e12,
        "schedule": f"{recipe.steps} steps ({recipe.schedule}) x {PAPER_BATCH}",
        "projected_hours": projected_s / 3600,
        "pflop_full_schedule": total_flops / 1e15,
        "flop_bound_hours_at_measured_peak": total_flops / peak / 3600,
        "h100_spec_minutes_at_100pct": h100_s / 60,
        "h100_spec_minutes_at_assumed_mfu": h100_s / args.assumed_mfu / 60, "assumed_mfu": args.assumed_mfu,
        "mfu_needed_for_goal_on_h100": h100_s / GOAL_SECONDS,
        "measured_vs_goal": projected_s / GOAL_SECONDS,
        "notes": recipe.notes
        + ([f"FLOPs counted at batch {args.batch}, scaled x{scale:g} to 512"] if scale != 1 else [])
        + ([f"images/s measured at batch {args.batch}: the projection to 512 assumes the same images/s"]
           if args.batch != PAPER_BATCH else [])
        + ([f"MFU against the fp32 matmul peak; the bf16 generator runs on the CPU's bf16 units "
            f"(bf16 matmul peak measured {peak_bf16 / 1e12:.3g} TFLOP/s), so MFU can pass 100%"]
           if peak_bf16 is not None else []),
    }
    del runner
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


# ----------------------------------------------------------------------------------------- output

def _fmt(v, digits=3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def markdown(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


THROUGHPUT_COLUMNS = ["recipe", "device", "batch", "generator", "images/s", "step ms", "peak mem GiB",
                      "GFLOP/step (b=512)", "measured peak TFLOP/s", "MFU %", "projected h (full schedule)"]
SPLIT_COLUMNS = ["recipe"] + [f"{p} ms" for p in PHASES] + ["phase sum ms", "un-instrumented step ms",
                                                            "host sync cost ms"]
PROJECTION_COLUMNS = ["recipe", "schedule", "PFLOP", "h at measured peak (100% MFU)",
                      "min on H100/H200 spec @100%", "min on H100/H200 spec @assumed MFU",
                      "MFU needed for 30 min", "measured projection / 30 min"]


def tables(rows: list[dict]) -> str:
    def gen_label(r):
        label = r["generator_precision_effective"]
        if r["generator_precision"] != label:
            label = f"{r['generator_precision']}->{label}"
        return f"{label}, {r['generator_fused_modconv']}; autocast {r['autocast']}"

    throughput = markdown(THROUGHPUT_COLUMNS, [[
        r["recipe"], r["device"], r["batch"], gen_label(r), r["images_per_s"], r["step_ms"], r["peak_memory_gib"],
        r["gflop_step_batch_512"], r["measured_peak_tflops"], 100 * r["mfu"], r["projected_hours"]] for r in rows])
    split = markdown(SPLIT_COLUMNS, [[r["recipe"]] + [r["phase_ms"][p] for p in PHASES]
                                     + [r["phase_sum_ms"], r["step_ms"], r["host_sync_cost_ms"]] for r in rows])
    projection = markdown(PROJECTION_COLUMNS, [[
        r["recipe"], r["schedule"], r["pflop_full_schedule"], r["flop_bound_hours_at_measured_peak"],
        r["h100_spec_minutes_at_100pct"], r["h100_spec_minutes_at_assumed_mfu"],
        f"{100 * r['mfu_needed_for_goal_on_h100']:.3g}%", r["measured_vs_goal"]] for r in rows])
    return "\n\n".join([
        "Throughput (un-instrumented engine steps after warm-up)", throughput,
        "Time split of one step (instrumented: a device sync at each phase boundary)", split,
        f"Full schedule at batch {PAPER_BATCH} (H100/H200: {H100_SPEC_BF16_FLOPS / 1e12:.0f} TFLOP/s dense bf16 is the "
        f"SPEC figure, not a measurement; assumed MFU {100 * rows[0]['assumed_mfu']:.0f}%)", projection])


def goal_lines(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        target = "the goal" if r["recipe"] == GOAL_RECIPE else f"the goal (stated for {GOAL_RECIPE})"
        out.append(
            f"{r['recipe']}: measured on {r['device']}: {r['projected_hours']:.3g} h for {r['schedule']} images = "
            f"{r['measured_vs_goal']:.3g} x {target} of 30 min; FLOP count {r['pflop_full_schedule']:.3g} PFLOP -> "
            f"{r['h100_spec_minutes_at_100pct']:.3g} min on an H100/H200 at 100% MFU (spec), "
            f"{r['h100_spec_minutes_at_assumed_mfu']:.3g} min at {100 * r['assumed_mfu']:.0f}% MFU; 30 min needs "
            f">= {100 * r['mfu_needed_for_goal_on_h100']:.3g}% MFU; MFU measured here {100 * r['mfu']:.3g}%.")
        if r["host_sync_sites"]:
            sites = ", ".join(r["host_sync_sites"])
            out.append(f"  synchronizing calls in one step: {r['host_syncs_per_step']} ({sites})")
        for note in r["notes"]:
            out.append(f"  note: {note}")
    return out


# -------------------------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="cifar10", help="cifar10 | cifar100 | stl10 | all, or a comma-separated list")
    p.add_argument("--batch", type=int, default=PAPER_BATCH, help="images per step (the paper: 512)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (each of: engine, ablation, instrumented)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1")
    p.add_argument("--generator-precision", default=None, choices=list(sg.PRECISIONS),
                   help="generator.precision; default: the preset's (float16, CUDA-only: float32 elsewhere)")
    p.add_argument("--autocast", default=None, choices=["bfloat16", "none"],
                   help="pretrain.autocast on CUDA; default: the preset's (the paper presets: none)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="another Hydra override of the composed config, e.g. --set generator.noise_mode=const")
    p.add_argument("--generator-fused-modconv", default="auto", choices=["auto", "fused", "unfused"],
                   help="generator.fused_modconv: auto = the official rule (fused in float32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="the method in channels-last memory, as the engine (default on)")
    p.add_argument("--compile", action="store_true", help="torch.compile the student backbone and projector")
    p.add_argument("--sync-ablation", action=argparse.BooleanOptionalAction, default=None,
                   help="also time steps without the finite-loss check (default: on CUDA only)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (convs already may, torch's default)")
    p.add_argument("--assumed-mfu", type=float, default=0.40, help="MFU assumed for the H100/H200 projection")
    p.add_argument("--peak-size", type=int, default=None, help="n of the peak matmul (default 8192 CUDA, 2048 CPU)")
    p.add_argument("--peak-iters", type=int, default=None,
                   help="matmuls per timed group, the best of 5 groups counts (default 20 CUDA, 2 CPU)")
    p.add_argument("--tiny", action="store_true", help="narrow networks, for tests (numbers are not the recipe's)")
    p.add_argument("--out", help="also write the rows as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.batch < 2 or args.steps < 1 or args.warmup < 0:
        p.error("--batch >= 2, --steps >= 1, --warmup >= 0")
    return args


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: torch sees no CUDA device")
    return device


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.peak_size is None:
        args.peak_size = 8192 if device.type == "cuda" else (256 if args.tiny else 2048)
    if args.peak_iters is None:
        args.peak_iters = 20 if device.type == "cuda" else 2
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    names = ["cifar10", "cifar100", "stl10"] if args.recipe == "all" else args.recipe.split(",")
    recipes = [make_recipe(n.strip(), args.tiny, args.set) for n in names]
    rows = []
    for recipe in recipes:
        t = time.perf_counter()
        rows.append(measure(recipe, args, device))
        log.info("%s measured in %.0f s", recipe.name, time.perf_counter() - t)
    print(tables(rows))
    print()
    print("\n".join(goal_lines(rows)))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "rows": rows, "argv": sys.argv[1:] if argv is None else list(argv), "torch": torch.__version__,
            "h100_spec_bf16_tflops": H100_SPEC_BF16_FLOPS / 1e12, "goal_minutes": GOAL_SECONDS / 60,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n")
        print(f"\nwritten to {args.out}")
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()
