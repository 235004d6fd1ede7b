"""Images per second of a generator adapter, features included: ``generator.sample(n)`` (mapping +
synthesis, every block's output kept), by batch size and precision. Prints a markdown table.

Sources of the generator:
  --random-cifar10                 the CIFAR-10 StyleGAN2-ADA architecture (CIFAR10_G_KWARGS / _D_KWARGS,
                                   conditional, 512 channels per block) with random weights: no file needed;
  --generator stylegan2ada --pickle PATH
                                   a network pickle through the registered adapter (any registered
                                   generator name works with --set KEY=VALUE for its config keys).
Variants: fp32 everywhere; on CUDA also bf16 and fp16 autocast, and fp32 with channels_last weights.
Each cell: ``--warmup`` untimed batches, then ``--iters`` timed ones (torch.cuda.synchronize around
the timed loop on CUDA), under torch.inference_mode; sampling uses a seeded torch.Generator.

    python measurements/generation_speed.py --random-cifar10 --device cpu --batch-sizes 1,16
    python measurements/generation_speed.py --generator stylegan2ada --pickle cifar10.pkl --device cuda
"""
from __future__ import annotations

import argparse
import contextlib
import platform
import time

import torch
import yaml

VARIANTS = {  # name -> (autocast dtype or None, channels_last)
    "fp32": (None, False),
    "fp32+channels_last": (None, True),
    "bf16 autocast": (torch.bfloat16, False),
    "fp16 autocast": (torch.float16, False),
}


def random_cifar10(device: torch.device):
    from benchmark.generators import stylegan2ada as sg
    from benchmark.generators import stylegan2ada_discriminator as sgd
    from benchmark.generators.stylegan2ada_zoo import StyleGAN2ADAGenerator, freeze

    torch.manual_seed(0)
    G = sg.Generator(**sg.CIFAR10_G_KWARGS)
    D = sgd.Discriminator(**sgd.CIFAR10_D_KWARGS)
    return freeze(StyleGAN2ADAGenerator(freeze(G, device), freeze(D, device)), device)


def registered(name: str, settings: dict, artifacts: str, device: torch.device):
    from benchmark.generators import build_generator

    return build_generator({"name": name, **settings}, data_cfg=None, artifacts_root=artifacts, device=device)


def time_cell(gen, batch: int, dtype, device: torch.device, warmup: int, iters: int) -> float:
    """Seconds per batch of ``gen.sample(batch)``."""
    rng = torch.Generator(device).manual_seed(0)
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            out = gen.sample(batch, rng=rng)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            out = gen.sample(batch, rng=rng)
            _ = out.features  # kept: every block's output is computed and returned
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / iters


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--random-cifar10", action="store_true", help="CIFAR-10 StyleGAN2-ADA with random weights")
    source.add_argument("--generator", help="a registered generator name, e.g. stylegan2ada")
    parser.add_argument("--pickle", help="network pickle (generator stylegan2ada)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="another generator config key (value parsed as YAML), e.g. --set noise_mode=random")
    parser.add_argument("--artifacts", default="artifacts", help="paths.artifacts (download cache)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1")
    parser.add_argument("--batch-sizes", default="1,16,64,256")
    parser.add_argument("--variants", default=None,
                        help=f"comma list of {list(VARIANTS)}; default: fp32 on CPU, all on CUDA")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if args.random_cifar10:
        gen, what = random_cifar10(device), "StyleGAN2-ADA CIFAR-10 architecture, random weights"
    else:
        settings = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
        if args.pickle:
            settings["pickle"] = args.pickle
        gen, what = registered(args.generator, settings, args.artifacts, device), args.generator
    variants = (args.variants.split(",") if args.variants else
                list(VARIANTS) if device.type == "cuda" else ["fp32"])
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; valid: {list(VARIANTS)}")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if device.type == "cuda":
        hw = torch.cuda.get_device_name(device)
    else:
        hw = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    print(f"{what}: {gen.resolution} px, {gen.image_channels} channels, features {gen.feature_shapes}")
    print(f"device {device} ({hw}), torch {torch.__version__}, warm-up {args.warmup}, timed {args.iters} batches\n")
    print("| variant | batch | ms / batch | images / s |")
    print("|---|---:|---:|---:|")
    for variant in variants:
        dtype, channels_last = VARIANTS[variant]
        gen = gen.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        for batch in batches:
            try:
                seconds = time_cell(gen, batch, dtype, device, args.warmup, args.iters)
                print(f"| {variant} | {batch} | {seconds * 1e3:.1f} | {batch / seconds:.1f} |", flush=True)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                print(f"| {variant} | {batch} | out of memory | - |", flush=True)


if __name__ == "__main__":
    main()
