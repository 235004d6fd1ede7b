"""``experiment=generators`` end to end at smoke scale: squeeze from every CIFAR-10 generator of the zoo, each read
from a random-weight file in its official format placed where its config looks (the download cache under
paths.artifacts, no per-row override), each generator's fd_classifier measured, and the board rendered beside the
poster's FID and top-1. The StyleGAN pickles are read by the restricted unpicklers: no code in them runs.

The StyleGAN2-ADA and StyleGAN-XL pickles are tiny (their architecture is read from the pickle); AutoGAN's and
DiffAugment BigGAN's configs fix the architecture (gf_dim 256, G_ch 64) and the StyleGAN rows have no such key
to override, so those two files have the released size (4.4 M / 4.3 M numbers: well under a second to write)."""
from __future__ import annotations

import json
import math

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.generators.pretrained_files import download_cache_path
from tests.helpers import stylegan, styleganxl
from tests.helpers.biggan import write_autogan_cifar10, write_biggan_cifar10
from tests.helpers.launching import REPO, launch
from tests.helpers.replicas import write_cifar10

# row -> (the adapter's registered name, the board's name, the poster's FID and squeeze top-1)
ROWS = {
    "generators_stylegan2ada_u": ("stylegan2ada", "StyleGAN2-ADA (unconditional)", "2.92", "87.67"),
    "generators_autogan": ("autogan_cifar10", "AutoGAN", "12.42", "76.28"),
    "generators_stylegan2ada_c": ("stylegan2ada", "StyleGAN2-ADA (conditional)", "2.42", "88.90"),
    "generators_styleganxl": ("styleganxl", "StyleGAN-XL", "1.85", "84.97"),
    "generators_biggan": ("biggan_cifar10", "BigGAN-DiffAugment-CR", "8.49", "86.41"),
}


def generator_config(row: str) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        cfg = compose("config", overrides=["experiment=generators", "preset=smoke", f"row={row}"])
    return OmegaConf.to_container(cfg.generator, resolve=True)


def write_zoo(artifacts) -> None:
    """Each row's generator file at the path its config reads when no local file is named."""
    cfgs = {row: generator_config(row) for row in ROWS}
    assert all(not cfg.get("pickle") and not cfg.get("checkpoint") for cfg in cfgs.values())

    def cached(row):
        path = download_cache_path(cfgs[row]["url"], artifacts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    for row, c_dim, seed in (("generators_stylegan2ada_u", 0, 0), ("generators_stylegan2ada_c", 10, 3)):
        G, D, g_kwargs, d_kwargs = stylegan.make_networks(c_dim, seed=seed)
        stylegan.write_official_pickle(cached(row), G, D, g_kwargs, d_kwargs)
    styleganxl.write_official_pickle(cached("generators_styleganxl"), styleganxl.make_generator(c_dim=10, seed=1),
                                     marker=str(artifacts / "pickle-code-ran"))
    write_biggan_cifar10(cached("generators_biggan"))
    # AutoGAN's files are in a Google Drive folder (no download): its fixed place in the downloads folder
    write_autogan_cifar10(artifacts / "generators" / "downloads" / "autogan_cifar10" / "autogan_cifar10_a.pth",
                          training_checkpoint=True)


def test_experiment_generators_renders_the_zoo_beside_the_poster(tmp_path):
    datasets = tmp_path / "datasets"
    write_cifar10(datasets)
    write_zoo(tmp_path / "artifacts")  # launch() sets paths.artifacts=<tmp_path>/artifacts
    # task: the experiment sets none and smoke's is linear_fmnist, while the poster's top-1 is CIFAR-10's
    result = launch(tmp_path, "-m", "experiment=generators", "preset=smoke", f"paths.datasets={datasets}",
                    "task=linear_cifar10", "task.image_size=32", "task.num_workers=0", "data.download=false",
                    "anchors=false", "device=cpu", "pretrain.steps=2", "pretrain.batch_size=8", "quality.samples=32")
    assert result.returncode == 0, result.output[-4000:]
    assert not (tmp_path / "artifacts" / "pickle-code-ran").exists()
    records = {}
    for path in (tmp_path / "results" / "smoke" / "linear_cifar10").glob("*.json"):
        record = json.loads(path.read_text())
        records[record["config"]["board"]["row"]] = record
    assert set(records) == set(ROWS), result.output[-4000:]
    for row, (adapter, *_) in ROWS.items():
        record = records[row]
        assert record["generator"] == adapter, row
        assert record["generator_provenance"]["downloaded"] is False, row  # read from the cache, not fetched
        quality = record["generator_quality"]
        assert quality["measure"] == "fd_classifier" and math.isfinite(quality["value"]), (row, quality)
        # measured on this row's own file: two rows of one adapter (the StyleGAN2-ADA pair) are two generators
        assert quality["generator_provenance"]["sha256"] == record["generator_provenance"]["sha256"], (
            row, quality["artifact"], quality["generator_provenance"])

    board = (tmp_path / "leaderboards" / "generators_smoke.md").read_text()
    for row, (_, name, fid, top1) in ROWS.items():
        line = next((line for line in board.splitlines() if line.startswith(f"| {name} ")), None)
        assert line is not None, (name, board)
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[-2:] == [fid, top1], (name, line)
    assert (tmp_path / "leaderboards" / "generators_smoke.png").is_file()
