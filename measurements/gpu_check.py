"""One prepared check of every CUDA path of the suite, a few minutes on one H100/H200: run it when a GPU is lent.

    bash measurements/gpu_check.sh                 # = python measurements/gpu_check.py
    python measurements/gpu_check.py --cpu-dry-run # every check on the CPU at tiny sizes (verifies the script)

Each check prints one PASS/FAIL line with its numbers; everything is also written as JSON to
``$OUT/gpu_check.json`` when ``$OUT`` is set (or to ``--out``). Exit status 0 when every check passed, 1 when
one failed, 2 when CUDA is absent (without ``--cpu-dry-run``). The checks (CIFAR-10 recipe architectures with
random weights, nothing downloaded; builders shared with measurements/paper_throughput.py):

* ``environment``: torch, CUDA, the device, bf16 support.
* ``generator_precision``: the CIFAR-10 StyleGAN2-ADA generator (512 channels) in float16 and bfloat16
  against float32 (TF32 convolutions off for the reference) on the same z with noise_mode const: max
  |difference| of the image and of every block's features, in units of the dtype's unit roundoff u (2**-11,
  2**-8) of max |float32 value|; PASS at <= 8 u (tests/benchmark/generators/test_stylegan2ada_precision.py
  measured <= 4.5 u on small networks). Then (torch's defaults) images/s of ``sample(256)`` for float32
  fused (the official rule) / unfused, float16 and bfloat16 with the official rule and unfused everywhere,
  and float16 unfused with channels-last blocks.
* ``sqsp_bf16_autocast``: benchmark/pretraining/engine.py ``pretrain`` of the sqsp recipe (preset
  paper_cifar10, ``pretrain.autocast=bfloat16``, generator float16) for a few steps: every logged loss finite,
  the student's weights channels-last, checkpoints written; then the same call with more steps resumes
  from the last checkpoint.
* ``channels_last``: the student's output with channels-last input and weights against contiguous ones, in
  float32 (TF32 convolutions, torch's default) and under bf16 autocast.
* ``nccl_one_process``: a one-process NCCL group (``init_method`` tcp on localhost, with the RANK /
  WORLD_SIZE / MASTER_ADDR / MASTER_PORT / LOCAL_RANK a launcher sets; benchmark/pretraining/distributed.py
  ``from_environment`` treats world size 1 as no group, so the check forces its ``DataParallel`` to take the
  data-parallel path): ``pretrain`` through DDP, SyncBatchNorm and the batch all-gather, against the same
  steps in one plain process (float32, same seed): the first logged loss agrees to 1e-3.
* ``checkpoint_roundtrip``: benchmark/checkpoints.py ``save_checkpoint`` / ``load_checkpoint`` of the trained
  method and SGD state on the device: every tensor bitwise equal after the round trip, and after loading into
  a fresh method and optimizer on the device.
* ``jpeg_decoding``: ImageNet-style JPEGs (500x375, textured; measurements/jpeg_streaming.py) decoded to the
  146 px squares of preset=imagenet100 by torchvision's decode_jpeg on the device (nvJPEG), against the CPU
  path the suite uses (PIL, one process; DecodedSquares at full-scale DCT): images/s of each, and the mean
  |difference| of the squares in uint8 levels (PASS at <= 4: two decoders and two resamplers, not one).
  Whether decoding on the GPU beats DataLoader workers (414 images/s per worker on the 2-core machine).
* ``throughput``: measurements/paper_throughput.py for the cifar10 recipe at batch 512 (a few steps each): the
  preset as configured (generator float16 by the official rule, autocast none), and the fast variant
  (generator float16 unfused, bf16 autocast, cudnn.benchmark); the tables are printed.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (str(REPO), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import jpeg_streaming as js  # noqa: E402  (measurements/jpeg_streaming.py)
import paper_throughput as pt  # noqa: E402  (measurements/paper_throughput.py)

UNIT_ROUNDOFF = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8, "float32": 2.0 ** -24}
MAX_ERROR_UNITS = 8


@dataclass
class Sizes:
    """Full sizes on a GPU; tiny ones for --cpu-dry-run."""

    tiny: bool
    gen_batch: int  # the precision comparison
    speed_batch: int  # generator images/s
    speed_iters: int
    train_batch: int  # engine.pretrain checks
    train_steps: int
    throughput_batch: int
    throughput_steps: int
    throughput_warmup: int


FULL = Sizes(False, 64, 256, 5, 128, 6, 512, 5, 3)
TINY = Sizes(True, 8, 8, 1, 8, 4, 8, 1, 1)


class Context:
    def __init__(self, device: torch.device, sizes: Sizes, workdir: Path):
        self.device, self.sizes, self.workdir = device, sizes, workdir
        self.trained = None  # (method, optimizer state) of sqsp_bf16_autocast, for checkpoint_roundtrip
        self.throughput_rows = []

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def recipe(self, *overrides: str) -> pt.Recipe:
        return pt.make_recipe("cifar10", tiny=self.sizes.tiny, overrides=list(overrides))


# ------------------------------------------------------------------------------------------ the checks

def check_environment(ctx: Context):
    numbers = {"torch": torch.__version__, "cuda_runtime": torch.version.cuda, "device": pt.describe(ctx.device)}
    if ctx.cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        numbers.update(capability=f"{props.major}.{props.minor}", memory_gib=props.total_memory / 2 ** 30,
                       bf16_supported=torch.cuda.is_bf16_supported(), cudnn=torch.backends.cudnn.version(),
                       nccl=".".join(map(str, torch.cuda.nccl.version())) if hasattr(torch.cuda, "nccl") else None)
        return bool(numbers["bf16_supported"]), numbers
    return True, numbers


def _generator(ctx: Context, precision: str, fused, channels_last: bool = False):
    recipe = ctx.recipe()
    kwargs = copy.deepcopy(recipe.generator_kwargs)
    if channels_last:
        kwargs["synthesis_kwargs"]["fp16_channels_last"] = True
    torch.manual_seed(0)  # the same weights for every variant
    G = pt.sg.Generator(**kwargs)
    return pt.freeze(pt.StyleGAN2ADAGenerator(pt.freeze(G, ctx.device), None, noise_mode="const", precision=precision,
                                              fused_modconv=fused), ctx.device)


def check_generator_precision(ctx: Context):
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # a true float32 reference: TF32 convolutions keep 10 mantissa bits
    try:
        ok, numbers = _generator_precision(ctx)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    numbers["images_per_s_batch_%d" % ctx.sizes.speed_batch] = _generator_speed(ctx)  # torch's defaults
    return ok, numbers


def _generator_precision(ctx: Context):
    n = ctx.sizes.gen_batch
    ref_gen = _generator(ctx, "float32", None)
    z = torch.randn(n, ref_gen.z_dim, device=ctx.device, generator=torch.Generator(ctx.device).manual_seed(1))
    with torch.no_grad():
        ws = ref_gen.G.mapping(z, None)

        def outputs(gen):
            img, feats = gen.G.synthesis(ws, return_features=True, noise_mode="const",
                                         fused_modconv=gen.fused_modconv)
            return dict(image=img, **{name: f for name, f in zip(gen.feature_names, feats)})

        ref = outputs(ref_gen)
        numbers, ok = {}, True
        for precision in ("float16", "bfloat16"):
            gen = _generator(ctx, precision, None)
            effective = gen.G.synthesis.effective_precision(ctx.device)
            out = outputs(gen)
            u = UNIT_ROUNDOFF[effective]
            diffs = {}
            for name, a in out.items():
                b = ref[name]
                d = (a - b).abs().max().item()
                units = d / max(b.abs().max().item(), 1e-30) / u
                diffs[name] = {"max_abs_diff": d, "units_of_u": units, "dtype": str(a.dtype)}
                ok &= a.dtype == torch.float32 and bool(torch.isfinite(a).all())
                if effective == "float32":  # float16 off CUDA: must fall back exactly
                    ok &= d == 0.0
                elif name not in ("image",) and gen.G.synthesis.fp16_blocks().count(name) == 0:
                    ok &= d == 0.0  # a float32 block (b4) is untouched
                else:
                    ok &= units <= MAX_ERROR_UNITS
            numbers[precision] = {"effective": effective, "diffs": diffs}
        unfused = outputs(_generator(ctx, "float32", False))
        numbers["float32_unfused_vs_fused_max_abs_diff"] = max((unfused[k] - ref[k]).abs().max().item() for k in ref)
    return ok, numbers


def _generator_speed(ctx: Context) -> dict:
    """images/s of ``sample(speed_batch)`` per variant."""
    speed = {}
    variants = [("float32", None, False), ("float32", False, False), ("float16", None, False),
                ("float16", False, False), ("bfloat16", None, False), ("bfloat16", False, False),
                ("float16", False, True)]
    for precision, fused, channels_last in variants:
        gen = _generator(ctx, precision, fused, channels_last)
        name = f"{precision} {'official rule' if fused is None else 'unfused'}"
        name += " channels-last" if channels_last else ""
        rng = torch.Generator(ctx.device).manual_seed(0)
        with torch.no_grad():
            for _ in range(2):
                gen.sample(ctx.sizes.speed_batch, rng=rng)
            pt.sync(ctx.device)
            t0 = time.perf_counter()
            for _ in range(ctx.sizes.speed_iters):
                gen.sample(ctx.sizes.speed_batch, rng=rng)
            pt.sync(ctx.device)
        speed[name] = ctx.sizes.speed_batch * ctx.sizes.speed_iters / (time.perf_counter() - t0)
        del gen
    return speed


def _pretrain_cfg(parts, steps: int, **overrides) -> dict:
    return dict(parts.pretrain_cfg, steps=steps, log_every=1, checkpoint_every=2, warmup_steps=0,
                precision="float32", deterministic=False, **overrides)


def _losses(out_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def check_sqsp_bf16_autocast(ctx: Context):
    from benchmark.pretraining.engine import pretrain

    parts = pt.build_parts(ctx.recipe("pretrain.autocast=bfloat16", "generator.precision=float16"), ctx.device,
                           ctx.sizes.train_batch)
    out_dir = ctx.workdir / "sqsp_bf16"
    out_dir.mkdir()
    steps = ctx.sizes.train_steps
    t0 = time.perf_counter()
    pretrain(parts.method, parts.generator, parts.real, _pretrain_cfg(parts, steps), out_dir, ctx.device, 0)
    seconds = time.perf_counter() - t0
    losses = _losses(out_dir)
    conv = parts.method.backbone.conv1.weight
    checkpoint = (out_dir / "checkpoint.pt").exists()
    resumed = pretrain(parts.method, parts.generator, parts.real, _pretrain_cfg(parts, steps + 2), out_dir,
                       ctx.device, 0)
    last_checkpoint = steps - steps % 2 if steps % 2 else steps - 2  # the last periodic one before the final step
    numbers = {"steps": steps, "batch": ctx.sizes.train_batch, "seconds": seconds, "losses": losses,
               "autocast": parts.pretrain_cfg["autocast"] if ctx.cuda else "none (CPU)",
               "generator": parts.generator.G.synthesis.effective_precision(ctx.device),
               "weights_channels_last": conv.is_contiguous(memory_format=torch.channels_last),
               "checkpoint_written": checkpoint, "resumed_from": resumed["resumed_from"],
               "expected_resume": last_checkpoint}
    resumed_losses = _losses(out_dir)[steps:]
    numbers["resumed_losses"] = resumed_losses
    ok = (len(losses) == steps and all(math.isfinite(v) for v in losses + resumed_losses)
          and numbers["weights_channels_last"] and checkpoint and resumed["resumed_from"] == last_checkpoint)
    ctx.trained = parts
    return ok, numbers


def check_channels_last(ctx: Context):
    from benchmark.backbones import build_backbone

    recipe = ctx.recipe()
    torch.manual_seed(0)
    net = build_backbone(recipe.cfg["backbone"], 3).to(ctx.device).eval()
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x = torch.rand(16, 3, recipe.crop_size, recipe.crop_size, device=ctx.device) * 2 - 1
    numbers, ok = {}, True
    with torch.no_grad():
        for name, dtype, units in (("float32", None, 16 * 2.0 ** -11),
                                   ("bf16_autocast", torch.bfloat16, 16 * 2.0 ** -8)):
            with torch.autocast(ctx.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None and ctx.cuda):
                a = net(x).float()
                b = net_cl(x.contiguous(memory_format=torch.channels_last)).float()
            d = (a - b).abs().max().item()
            rel = d / max(a.abs().max().item(), 1e-30)
            numbers[name] = {"max_abs_diff": d, "relative_to_max": rel, "bound": units}
            ok &= bool(torch.isfinite(b).all()) and rel <= units
    return ok, numbers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _environment(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_nccl_one_process(ctx: Context):
    import torch.distributed as dist

    from benchmark.pretraining import distributed as D
    from benchmark.pretraining.engine import pretrain

    @dataclass(frozen=True)
    class OneProcessGroup(D.DataParallel):
        """World size 1, on the data-parallel path (DDP, synchronised BatchNorm, gathered statistics)."""

        @property
        def distributed(self) -> bool:
            return True

    backend = "nccl" if ctx.cuda else "gloo"
    device = torch.device("cuda", 0) if ctx.cuda else ctx.device
    port = _free_port()
    numbers = {"backend": backend}
    recipe = ctx.recipe("pretrain.autocast=none")
    with _environment(RANK=0, WORLD_SIZE=1, LOCAL_RANK=0, MASTER_ADDR="127.0.0.1", MASTER_PORT=port):
        single, single_device = D.from_environment(device, gather_statistics=True, sync_batchnorm=True)
        numbers["from_environment_world_size_1"] = {"distributed": single.distributed, "device": str(single_device)}
        if ctx.cuda:
            torch.cuda.set_device(device)
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
        try:
            parallel = OneProcessGroup(0, 1, 0, True, True)
            runs = {}
            for name, par in (("plain", D.SINGLE_PROCESS), ("ddp", parallel)):
                parts = pt.build_parts(recipe, device, ctx.sizes.train_batch, gather_batch=par.gather_batch)
                out_dir = ctx.workdir / f"nccl_{name}"
                out_dir.mkdir()
                t0 = time.perf_counter()
                # 3 steps: the checkpoint after step 2 gathers every process's RNG states (all_gather_object)
                pretrain(parts.method, parts.generator, parts.real, _pretrain_cfg(parts, 3), out_dir, device, 0, par)
                runs[name] = {"losses": _losses(out_dir), "seconds": time.perf_counter() - t0}
            t = torch.ones(3, device=device)
            dist.all_reduce(t)
            numbers["all_reduce_ok"] = bool(torch.equal(t, torch.ones(3, device=device)))
        finally:
            dist.destroy_process_group()
    numbers.update(runs)
    first_plain, first_ddp = runs["plain"]["losses"][0], runs["ddp"]["losses"][0]
    numbers["first_loss_relative_difference"] = abs(first_ddp - first_plain) / max(abs(first_plain), 1e-30)
    ok = (numbers["all_reduce_ok"] and not single.distributed
          and all(math.isfinite(v) for r in runs.values() for v in r["losses"])
          and numbers["first_loss_relative_difference"] <= 1e-3)
    return ok, numbers


def check_checkpoint_roundtrip(ctx: Context):
    from benchmark.checkpoints import load_checkpoint, save_checkpoint
    from benchmark.pretraining.engine import build_optimizer

    if ctx.trained is None:
        return False, {"error": "sqsp_bf16_autocast did not run"}
    parts = ctx.trained
    method = parts.method
    optimizer = build_optimizer(method, parts.pretrain_cfg)
    # a state with momentum buffers: one plain step on the trained method
    batch = parts.one_batch()
    optimizer.zero_grad(set_to_none=True)
    method.training_step(batch)["loss"].backward()
    optimizer.step()
    state = {"method": method.state_dict(), "optimizer": optimizer.state_dict()}
    path = ctx.workdir / "roundtrip.pt"
    save_checkpoint(state, path)
    loaded = load_checkpoint(path)

    def tensors(obj, prefix=""):
        if torch.is_tensor(obj):
            yield prefix, obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from tensors(v, f"{prefix}/{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from tensors(v, f"{prefix}/{i}")

    saved, back = dict(tensors(state)), dict(tensors(loaded))
    mismatched = [k for k in saved if k not in back or not torch.equal(saved[k].cpu(), back[k])]
    on_device = sum(t.device.type == ctx.device.type for t in saved.values())
    fresh = pt.build_parts(ctx.recipe("pretrain.autocast=bfloat16", "generator.precision=float16"), ctx.device,
                           ctx.sizes.train_batch).method
    fresh.load_state_dict(loaded["method"])
    fresh_optimizer = build_optimizer(fresh, parts.pretrain_cfg)
    fresh_optimizer.load_state_dict(loaded["optimizer"])
    again = dict(tensors({"method": fresh.state_dict(), "optimizer": fresh_optimizer.state_dict()}))
    mismatched_fresh = [k for k in saved if k not in again or not torch.equal(saved[k], again[k].to(saved[k].device))]
    wrong_device = [k for k, v in again.items() if v.device.type != saved[k].device.type]
    numbers = {"tensors": len(saved), "on_device": on_device, "bytes": path.stat().st_size,
               "mismatched_after_load": mismatched[:5], "mismatched_after_load_state_dict": mismatched_fresh[:5],
               "wrong_device_after_load_state_dict": wrong_device[:5]}
    return not mismatched and not mismatched_fresh and not wrong_device and len(saved) > 0, numbers


def check_jpeg_decoding(ctx: Context):
    from benchmark.data.streamed import DecodedSquares

    n, size = (16, 146) if ctx.sizes.tiny else (512, 146)
    folder = ctx.workdir / "jpegs"
    folder.mkdir(exist_ok=True)
    paths = js.write_jpegs(folder, n)
    on_device = torch.cat([b.cpu() for b in js.device_squares(paths, size, ctx.device)])
    reference = torch.stack([DecodedSquares(paths, size, draft=False)[i] for i in range(n)])
    difference = (on_device.float() - reference.float()).abs().mean().item()
    numbers = {"device_images_per_s": js.rate_device(paths, size, ctx.device),
               "cpu_images_per_s_one_process": js.rate_in_process(paths, size, draft=True),
               "mean_abs_difference_levels": difference, "images": n, "size": size}
    return difference <= 4.0 and all(math.isfinite(v) for v in numbers.values()), numbers


def check_throughput(ctx: Context):
    s = ctx.sizes
    common = ["--recipe", "cifar10", "--batch", str(s.throughput_batch), "--steps", str(s.throughput_steps),
              "--warmup", str(s.throughput_warmup), "--device", str(ctx.device), "--quiet"]
    if s.tiny:
        common += ["--tiny", "--sync-ablation"]
    variants = {
        "preset as configured": [],
        "fast: generator float16 unfused, bf16 autocast, cudnn.benchmark":
            ["--generator-precision", "float16", "--generator-fused-modconv", "unfused", "--autocast", "bfloat16",
             "--cudnn-benchmark"],
    }
    rows = []
    for name, extra in variants.items():
        print(f"--- throughput: {name}", flush=True)
        (row,) = pt.main(common + extra)
        row["variant"] = name
        rows.append(row)
    ctx.throughput_rows = rows
    numeric = [r[k] for r in rows for k in ("images_per_s", "step_ms", "mfu", "gflop_step_batch_512",
                                             "measured_peak_tflops", "projected_hours")]
    summary = {r["variant"]: {"images_per_s": r["images_per_s"], "step_ms": r["step_ms"], "mfu": r["mfu"],
                              "projected_hours": r["projected_hours"], "phase_ms": r["phase_ms"],
                              "host_syncs_per_step": r["host_syncs_per_step"]} for r in rows}
    return all(isinstance(v, float) and math.isfinite(v) for v in numeric), summary


CHECKS = [
    ("environment", check_environment),
    ("generator_precision", check_generator_precision),
    ("sqsp_bf16_autocast", check_sqsp_bf16_autocast),
    ("channels_last", check_channels_last),
    ("nccl_one_process", check_nccl_one_process),
    ("checkpoint_roundtrip", check_checkpoint_roundtrip),
    ("jpeg_decoding", check_jpeg_decoding),
    ("throughput", check_throughput),
]


# -------------------------------------------------------------------------------------------------- main

def _brief(numbers, limit: int = 400) -> str:
    text = json.dumps(numbers, default=str)
    return text if len(text) <= limit else text[:limit] + " ..."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-dry-run", action="store_true", help="every check on the CPU at tiny sizes")
    p.add_argument("--only", action="append", default=[], help="run only this check (repeatable)")
    p.add_argument("--out", help="JSON results (default: $OUT/gpu_check.json when $OUT is set)")
    args = p.parse_args(argv)
    if not args.cpu_dry_run and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available (torch.cuda.is_available() is False, torch "
              f"{torch.__version__}, CUDA build {torch.version.cuda}): run it on a machine with an NVIDIA GPU, "
              "or pass --cpu-dry-run to verify the script on the CPU", file=sys.stderr)
        return 2
    device = torch.device("cpu") if args.cpu_dry_run else torch.device("cuda", 0)
    sizes = TINY if args.cpu_dry_run else FULL
    out = args.out or (str(Path(os.environ["OUT"]) / "gpu_check.json") if os.environ.get("OUT") else None)
    results = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        ctx = Context(device, sizes, Path(tmp))
        for name, check in CHECKS:
            if args.only and name not in args.only:
                continue
            t0 = time.perf_counter()
            try:
                ok, numbers = check(ctx)
            except Exception as e:  # noqa: BLE001 - a failing check is reported, the others still run
                ok, numbers = False, {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
            seconds = time.perf_counter() - t0
            results.append({"check": name, "passed": bool(ok), "seconds": seconds, "numbers": numbers})
            print(f"{'PASS' if ok else 'FAIL'} {name} ({seconds:.1f} s): {_brief(numbers)}", flush=True)
            if not ok and "traceback" in numbers:
                print(numbers["traceback"], file=sys.stderr)
    passed = sum(r["passed"] for r in results)
    total = time.perf_counter() - t_start
    print(f"gpu_check: {passed}/{len(results)} checks passed in {total:.0f} s on {pt.describe(device)}"
          + (" (CPU dry run, tiny sizes)" if args.cpu_dry_run else ""))
    if ctx.throughput_rows:
        print()
        print(pt.tables(ctx.throughput_rows))
    report = {"device": pt.describe(device), "cpu_dry_run": args.cpu_dry_run, "torch": torch.__version__,
              "seconds": total, "checks": results, "throughput_rows": ctx.throughput_rows,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"written to {out}")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
