"""What an ImageNet-scale pretraining row costs (preset=imagenet100 | imagenet: the suite's recipe): the floating-point
operations of one training step, counted on this CPU by torch's FlopCounterMode through the suite's own code
(the method, BigGAN-deep-128's sampling, the augmentation, forward and backward), scaled from a small batch to the
recipe's 512 (every term is linear in the batch), then turned into projected GPU hours:

    hours = steps x FLOPs per step / (utilisation x the GPU's dense bf16 peak) / 3600

The utilisation is an assumption, not a measurement (no GPU was lent to the session that wrote this): convolutional
networks keep a GPU's tensor cores far from busy (batch norm, activations and the augmentation are memory-bound and
are not counted here). MLPerf's tuned ResNet-50 runs reach about 18% of an H100's dense bf16 peak (~7,300 images/s
per GPU at 224 px, 24.6 GFLOPs per image forward and backward); plain PyTorch with bf16 autocast about half that.
0.15 is used unless --utilisation says otherwise, and the table shows the hours at 0.08 too. Run
measurements/gpu_check.sh on a GPU to replace the assumption with the measured images/s. The data side: the real images per second such a GPU consumes, and the
DataLoader workers that takes at this CPU's decode rate per worker (measurements/jpeg_streaming.py, --decode-size 146).

    python measurements/imagenet_budget.py [--batch 8] [--peak-tflops 989] [--utilisation 0.15] \
        [--decode-rate 600] [--out table.md]

The generator is BigGAN-deep-128's architecture with random weights (its cost does not depend on them; the
spectral norms are converged so that the forward stays finite), written in the package's folder layout.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ROWS = {  # the rows of experiment=transfer / dense: (method overrides)
    "VICReg (Syn. & Real)": ["method=vicreg", "method.domain=syn_real", "method.syn_fraction=0.5"],
    "Sq&Sp (Syn. & Real)": ["method=sqsp"],
}
PRESETS = ("imagenet100", "imagenet")


def write_inputs(folder: Path) -> tuple[Path, Path]:
    from tests.helpers.biggan import random_biggan_deep_128
    from tests.helpers.replicas import write_imagenet100_replica

    data = write_imagenet100_replica(folder / "data")
    config, model = random_biggan_deep_128()
    biggan = folder / "biggan-deep-128"
    biggan.mkdir()
    (biggan / "config.json").write_text(config.to_json_string())
    torch.save(model.state_dict(), biggan / "pytorch_model.bin")
    return data, biggan


def step_flops(preset: str, row: list[str], batch: int, data: Path, biggan: Path, work: Path) -> dict:
    """FLOPs of one pretraining step at ``batch`` images, and of the generator's sampling within it."""
    from benchmark.orchestration.pipeline import build
    from benchmark.orchestration.validation import validate_config
    from benchmark.pretraining.engine import pretrain

    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        cfg = compose("config", overrides=[f"preset={preset}", *row, f"paths.datasets={data}",
                                           f"paths.artifacts={work}/artifacts", f"generator.checkpoint={biggan}",
                                           "data.num_workers=0", "pretrain.steps=1",
                                           *(["data.allow_partial=true"] if preset == "imagenet" else []),
                                           f"pretrain.batch_size={batch}", "pretrain.steps_per_epoch=1",
                                           "device=cpu", "task=linear_imagenet100"])
    cfg = OmegaConf.to_container(cfg, resolve=True)
    validate_config(cfg)
    built = build(cfg, {}, check_task=False)
    out = work / f"{preset}-{cfg['method']['name']}"
    out.mkdir(parents=True, exist_ok=True)
    with FlopCounterMode(display=False) as counter:
        pretrain(built.method, built.generator, built.real_train, cfg["pretrain"], out, built.device, 0,
                 built.parallel)
    total = counter.get_total_flops()
    n_syn, n_real = built.method.split_batch(batch)  # what the engine draws each step
    generated = 0
    if n_syn:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            built.generator.sample(n_syn)
        generated = counter.get_total_flops()
    return {"total": total, "generator": generated, "steps": cfg_steps(preset), "real_share": n_real / batch}


def cfg_steps(preset: str) -> int:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        return int(compose("config", overrides=[f"preset={preset}"]).pretrain.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="images per counted step (scaled to 512)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak in TFLOP/s (H100 / H200 SXM: 989)")
    parser.add_argument("--utilisation", type=float, default=0.15, help="assumed share of the peak reached")
    parser.add_argument("--decode-rate", type=float, default=None,
                        help="JPEGs/s one DataLoader worker decodes at 146 px (measurements/jpeg_streaming.py)")
    parser.add_argument("--out", default=None, help="also write the table here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    lines = ["| preset | row | steps | TFLOPs / step (batch 512) | of which BigGAN-deep sampling | "
             f"GPU hours at {args.utilisation:.0%} of {args.peak_tflops:.0f} TFLOP/s | at 8% | real JPEGs/s the GPU "
             "takes | workers needed |", "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        data, biggan = write_inputs(Path(tmp))
        for preset in PRESETS:
            for label, row in ROWS.items():
                counted = step_flops(preset, row, args.batch, data, biggan, Path(tmp))
                per_step = counted["total"] * 512 / args.batch
                sampling = counted["generator"] * 512 / args.batch
                seconds = counted["steps"] * per_step / (args.utilisation * args.peak_tflops * 1e12)
                hours, hours_low = seconds / 3600, seconds / 3600 * args.utilisation / 0.08
                steps_per_s = counted["steps"] / seconds
                real_rate = steps_per_s * 512 * counted["real_share"]
                workers = f"{real_rate / args.decode_rate:.0f}" if args.decode_rate else "–"
                lines.append(f"| {preset} | {label} | {counted['steps']:,} | {per_step / 1e12:.2f} | "
                             f"{sampling / per_step:.0%} | {hours:,.1f} | {hours_low:,.1f} | {real_rate:,.0f} | {workers} |")
                print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
