"""How fast ImageNet-style JPEGs stream into pretraining on this CPU (benchmark/data/streamed.py): images
per second decoded to the ``decode_size`` square by one worker, with and without reduced-scale JPEG decoding
(``draft``), and through ``StreamedBatches`` with 1..N DataLoader workers.

    python measurements/jpeg_streaming.py [--images 400] [--decode-size 256] [--workers 2] [--device cuda]

The files are synthetic: ImageNet's mean size (about 400x350 px; here 500x375, the most common ILSVRC shape),
JPEG quality 90, content with texture so that they compress to a realistic ~100 KB. A GPU run needs
(images/s the GPU trains on) / (images/s per worker) workers so that no step waits on decoding.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.data.streamed import DecodedSquares, StreamedImages  # noqa: E402


def write_jpegs(folder: Path, n: int, size=(500, 375)) -> list[str]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    paths = []
    for i in range(n):
        phase = rng.uniform(0, 6.28, 3)
        smooth = np.stack([np.sin(x / (17 + 7 * c) + y / (23 + 5 * c) + phase[c]) for c in range(3)], -1)
        texture = rng.normal(0, 0.25, (size[1], size[0], 3))
        image = np.clip((smooth * 0.5 + 0.5 + texture) * 255, 0, 255).astype(np.uint8)
        path = folder / f"n00000000_{i}.JPEG"
        Image.fromarray(image).save(path, quality=90)
        paths.append(str(path))
    return paths


def rate_in_process(paths: list[str], size: int, draft: bool) -> float:
    squares = DecodedSquares(paths, size, draft)
    squares[0]  # warm the file cache and the codec
    start = time.perf_counter()
    for i in range(len(squares)):
        squares[i]
    return len(squares) / (time.perf_counter() - start)


def rate_streamed(paths: list[str], size: int, workers: int, batch_size: int = 32) -> float:
    data = StreamedImages(paths, np.zeros(len(paths), dtype=np.int64), ["x"], size, num_workers=workers)
    batches = data.batches(batch_size, torch.Generator().manual_seed(0))
    next(batches)  # workers started
    count = (len(paths) // batch_size) - 1
    start = time.perf_counter()
    for _ in range(count):
        next(batches)
    return count * batch_size / (time.perf_counter() - start)


def device_squares(paths: list[str], size: int, device: torch.device, batch_size: int = 64):
    """The files decoded by torchvision.io.decode_jpeg on ``device`` (nvJPEG on CUDA), a batch at a time, then
    DecodedSquares' geometry there (shorter side to ``size``, bilinear with antialias, centre square): yields
    (3, size, size) uint8 batches. The GPU path the suite does not use yet: this measures whether it should."""
    from torchvision.io import decode_jpeg, read_file

    for start in range(0, len(paths), batch_size):
        data = [read_file(p) for p in paths[start:start + batch_size]]
        images = decode_jpeg(data, device=device)
        out = []
        for image in images:
            height, width = image.shape[-2:]
            scale = size / min(width, height)
            resized = (max(size, round(height * scale)), max(size, round(width * scale)))
            image = torch.nn.functional.interpolate(image[None].float(), size=resized, mode="bilinear",
                                                    antialias=True, align_corners=False)[0]
            top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
            out.append(image[:, top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8))
        yield torch.stack(out)


def rate_device(paths: list[str], size: int, device: torch.device, batch_size: int = 64) -> float:
    next(device_squares(paths[:batch_size], size, device, batch_size))  # warm the codec (and CUDA)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in device_squares(paths, size, device, batch_size):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--decode-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="the most DataLoader workers to try")
    parser.add_argument("--device", default=None, help="also decode with torchvision.io.decode_jpeg here (cuda: nvJPEG)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_jpegs(Path(tmp), args.images)
        kb = sum(Path(p).stat().st_size for p in paths) / len(paths) / 1024
        print(f"{args.images} JPEGs of 500x375 px, {kb:.0f} KB each on average; decode_size {args.decode_size}")
        print("| path | images/s |\n|---|---|")
        for draft in (False, True):
            print(f"| one process, draft={draft} | {rate_in_process(paths, args.decode_size, draft):.0f} |")
        for workers in range(1, args.workers + 1):
            print(f"| StreamedBatches, {workers} worker(s), draft=True | "
                  f"{rate_streamed(paths, args.decode_size, workers):.0f} |")
        if args.device:
            device = torch.device(args.device)
            print(f"| decode_jpeg on {device}, batches of 64 | {rate_device(paths, args.decode_size, device):.0f} |")


if __name__ == "__main__":
    main()
