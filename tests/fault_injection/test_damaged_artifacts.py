"""Fault injection on every artifact the suite caches and later trusts: the pretrained weights (``method.pt``),
the small GAN (``gan.pt``), the frozen-feature caches and the NYUv2 normals cache. A truncated or altered file,
or an altered or garbled sha256 sidecar, is named in a warning, moved aside (never deleted) and rebuilt, and
the rebuilt artifact equals a fresh one; a legacy file without a sidecar is adopted once; ``benchmark.export``
refuses damaged weights. The API of benchmark/verified_artifacts.py is tested on its own first."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import benchmark.verified_artifacts as artifacts
from benchmark.verified_artifacts import (DamagedArtifactError, digest_path, load_or_set_aside, load_verified,
                                          read_sidecar, save_verified, set_aside, write_verified)
from tests.helpers.launching import REPO
from tests.helpers.pretraining import assert_state_dicts_equal


def set_aside_copies(path: Path) -> list[Path]:
    """The files ``path`` was moved aside to (not their sidecars)."""
    return sorted(path.parent.glob(path.name + ".damaged-*Z"))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit_in(path: Path, tensor: torch.Tensor) -> None:
    """Flip one bit inside ``tensor``'s bytes in a torch.save file: a fault that ``torch.load`` does not see
    (its zip records carry no checksum it checks), so only the digest can."""
    raw = bytearray(path.read_bytes())
    # the bytes of its storage as torch.save writes them (in its memory format, e.g. channels_last)
    needle = torch.empty(0, dtype=torch.uint8).set_(tensor.detach().untyped_storage()).numpy().tobytes()
    at = raw.find(needle)
    assert at >= 0 and len(needle) >= 8, "the tensor's bytes are not in the file"
    raw[at + len(needle) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def alter_sidecar(path: Path) -> None:
    sidecar = digest_path(path)
    digest, _ = read_sidecar(path)
    sidecar.write_text(sidecar.read_text().replace(digest, digest[::-1]))  # still a well-formed sidecar


# --------------------------------------------------------------------------------------------- the API itself


def test_save_verified_writes_a_plain_torch_file_and_a_sha256sum_sidecar(tmp_path):
    path = tmp_path / "method.pt"
    state = {"w": torch.arange(6.0)}
    digest = save_verified(state, path)
    assert torch.equal(torch.load(path)["w"], state["w"])  # users keep loading it with plain torch.load
    assert read_sidecar(path) == (digest, path.stat().st_size)
    assert torch.equal(load_verified(path)["w"], state["w"])
    if shutil.which("sha256sum"):  # the sidecar is what `sha256sum -c` reads
        check = subprocess.run(["sha256sum", "-c", "--strict", digest_path(path).name], cwd=tmp_path,
                               capture_output=True, text=True)
        assert check.returncode == 0 and "method.pt: OK" in check.stdout, check.stdout + check.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["method.pt", "method.pt.sha256"]  # no temp file left


@pytest.mark.parametrize("fault, reason", [
    ("missing", "missing"),
    ("truncated", "size mismatch"),
    ("appended", "size mismatch"),
    ("bit-flipped", "sha256 mismatch"),
    ("sidecar-altered", "sha256 mismatch"),
    ("sidecar-garbled", "sidecar method.pt.sha256 is unreadable"),
    ("verified-but-not-torch", "unreadable ("),
])
def test_damaged_artifact_error_names_the_file_and_what_is_wrong(tmp_path, fault, reason):
    path = tmp_path / "method.pt"
    weight = torch.randn(64)
    save_verified({"w": weight}, path)
    if fault == "missing":
        path.unlink()
    elif fault == "truncated":
        truncate(path)
    elif fault == "appended":
        path.write_bytes(path.read_bytes() + b"\0")
    elif fault == "bit-flipped":
        flip_bit_in(path, weight)
        assert not torch.equal(torch.load(path)["w"], weight)  # plain torch.load takes it silently
    elif fault == "sidecar-altered":
        alter_sidecar(path)
    elif fault == "sidecar-garbled":
        digest_path(path).write_text("not a digest\n")
    elif fault == "verified-but-not-torch":
        write_verified(path, lambda f: f.write(b"these bytes match their digest but are no torch file"))
    with pytest.raises(DamagedArtifactError) as caught:
        load_verified(path)
    assert caught.value.path == path and str(caught.value).startswith(f"{path}: ")
    assert reason in caught.value.reason, caught.value.reason


def test_a_crash_between_sidecar_and_payload_leaves_a_rebuild_never_an_unverified_file(tmp_path, monkeypatch):
    """The sidecar is replaced first: a crash before the payload's rename leaves a mismatch against the old
    payload (or no payload), both of which are rebuilt."""
    path = tmp_path / "gan.pt"
    save_verified({"v": torch.zeros(3)}, path)
    replaced, real_replace = [], os.replace

    class Crash(BaseException):
        pass

    def replace(src, dst):
        if Path(dst) == path:
            raise Crash  # the process dies after the sidecar, before the payload
        replaced.append(Path(dst).name)
        return real_replace(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", replace)
    with pytest.raises(Crash):
        save_verified({"v": torch.ones(3)}, path)
    monkeypatch.setattr(artifacts.os, "replace", real_replace)
    assert replaced == ["gan.pt.sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan.pt", "gan.pt.sha256"]  # the temp file is gone
    with pytest.raises(DamagedArtifactError, match="sha256 mismatch"):
        load_verified(path)  # the new sidecar does not describe the old payload
    path.unlink()
    assert load_or_set_aside(path, "trained GAN", "training it again") is None  # no payload: simply built


def test_set_aside_renames_with_its_sidecar_and_never_deletes(tmp_path):
    path = tmp_path / "method.pt"
    save_verified({"a": torch.ones(2)}, path)
    payload, sidecar = path.read_bytes(), digest_path(path).read_text()
    first = set_aside(path)
    save_verified({"a": torch.ones(2)}, path)
    second = set_aside(path)  # the same second: still two distinct names
    assert first != second and not path.exists() and not digest_path(path).exists()
    for moved in (first, second):
        assert moved.name.startswith("method.pt.damaged-") and moved.name.endswith("Z")
        assert moved.read_bytes() == payload and digest_path(moved).read_text() == sidecar
    assert set_aside(path) is None  # gone already (another process set it aside): nothing to do


def test_load_or_set_aside_warns_moves_and_returns_none(tmp_path, caplog):
    path = tmp_path / "x" / "train-abc.pt"
    save_verified(torch.ones(4, 2), path)
    truncate(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        assert load_or_set_aside(path, "feature cache", "recomputing the features") is None
    (moved,) = set_aside_copies(path)
    assert moved.read_bytes() == damaged
    assert (f"damaged feature cache {path} (size mismatch: {len(damaged)} bytes" in caplog.text
            and f"moved aside to {moved.name}; recomputing the features" in caplog.text), caplog.text


def test_a_sidecar_replaced_during_the_check_is_read_again_not_called_damage(tmp_path, monkeypatch):
    """Another process rewriting the same artifact (sidecar, then payload) between our reading the sidecar
    and the payload: the check reads the sidecar again once, instead of setting a good file aside."""
    path = tmp_path / "train-key.pt"
    save_verified(torch.zeros(3), path)
    old_record, real_read = read_sidecar(path), artifacts.read_sidecar
    save_verified(torch.ones(3), path)  # the other process's write, complete
    calls = []

    def read_sidecar_stale_once(p):
        calls.append(p)
        return old_record if len(calls) == 1 else real_read(p)

    monkeypatch.setattr(artifacts, "read_sidecar", read_sidecar_stale_once)
    assert torch.equal(load_verified(path), torch.ones(3))
    assert len(calls) >= 2


# --------------------------------------------------------------------------------------------- legacy files


def test_legacy_file_without_sidecar_is_adopted_once_then_verified(tmp_path, caplog):
    path = tmp_path / "method.pt"
    weight = torch.randn(32)
    torch.save({"w": weight}, path)  # as the suite wrote it before sidecars
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        assert torch.equal(load_verified(path)["w"], weight)
    assert f"{path} has no sha256 sidecar (written before artifacts carried digests): accepted once" in caplog.text
    assert read_sidecar(path)[0] == artifacts.file_sha256(path)[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        load_verified(path)
    assert caplog.text == ""  # adopted: no second warning
    flip_bit_in(path, weight)
    with pytest.raises(DamagedArtifactError, match="sha256 mismatch"):
        load_verified(path)  # and from now on verified


def test_legacy_policies_trust_reject_and_a_legacy_file_that_does_not_load(tmp_path, caplog, monkeypatch):
    path = tmp_path / "user.pt"
    torch.save({"w": torch.ones(2)}, path)
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        load_verified(path, legacy="trust")
    assert "read without verification" in caplog.text and not digest_path(path).exists()  # nothing written
    with pytest.raises(DamagedArtifactError, match="no sidecar user.pt.sha256"):
        load_verified(path, legacy="reject")
    with pytest.raises(ValueError, match="valid: adopt, trust, reject"):
        load_verified(path, legacy="sometimes")
    # adopted only once it loaded: a damaged legacy file gets no digest
    truncate(path)
    with pytest.raises(DamagedArtifactError, match=r"unreadable \("):
        load_verified(path)
    assert not digest_path(path).exists()
    # a read-only artifacts folder: accepted, unverified, with a warning that says so
    torch.save({"w": torch.ones(2)}, path)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(artifacts, "write_sidecar", refuse)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        load_verified(path)
    assert "accepted unverified; its sha256 could not be recorded in user.pt.sha256" in caplog.text


# ------------------------------------------------------------------------------ method.pt, through the pipeline


def smoke_config(root: Path) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=["preset=smoke", "device=cpu", "anchors=false", "data.download=false",
                                           "pretrain.deterministic=true", f"paths.artifacts={root}/artifacts",
                                           f"paths.results={root}/results"])
    return OmegaConf.to_container(cfg, resolve=True)


def pretrain_or_load(cfg: dict) -> tuple[dict, dict]:
    """(the method's state after pretrain_or_load, timings), as a run does it."""
    from benchmark.orchestration import pipeline

    timings = {}
    built = pipeline.build(cfg, timings, check_task=False)
    pipeline.pretrain_or_load(cfg, built, timings)
    return {k: v.clone() for k, v in built.method.state_dict().items()}, timings


@pytest.fixture
def trained(tmp_path, fmnist_replica, one_thread):
    """A smoke pretraining done once: (config, its method.pt, the trained state)."""
    from benchmark.orchestration.identity import pretrained_weights

    cfg = smoke_config(tmp_path)
    state, timings = pretrain_or_load(cfg)
    assert not timings["pretrain_reused"]
    weights = pretrained_weights(cfg)
    assert_state_dicts_equal(torch.load(weights), state)
    return cfg, weights, state


METHOD_FAULTS = {
    "truncated": ("size mismatch", lambda w, state: truncate(w)),
    "bit-flipped": ("sha256 mismatch", lambda w, state: flip_bit_in(w, max(state.values(), key=torch.numel))),
    "sidecar-altered": ("sha256 mismatch", lambda w, state: alter_sidecar(w)),
    "sidecar-garbled": ("its sidecar method.pt.sha256 is unreadable",
                        lambda w, state: digest_path(w).write_text("0123  method.pt\n")),
    "truncated-sidecar-missing": ("unreadable (", lambda w, state: (truncate(w), digest_path(w).unlink())),
}


@pytest.mark.parametrize("fault", sorted(METHOD_FAULTS))
def test_damaged_method_pt_is_named_moved_aside_and_retrained_to_the_same_weights(trained, fault, caplog):
    cfg, weights, fresh = trained
    reason, inject = METHOD_FAULTS[fault]
    had_sidecar = digest_path(weights).exists()
    inject(weights, fresh)
    damaged = weights.read_bytes()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        state, timings = pretrain_or_load(cfg)
    assert f"damaged pretrained weights {weights} ({reason}" in caplog.text, caplog.text
    (moved,) = set_aside_copies(weights)
    assert f"moved aside to {moved.name}; pretraining sqsp again" in caplog.text
    assert moved.read_bytes() == damaged  # kept, not deleted
    assert digest_path(moved).exists() == (had_sidecar and fault != "truncated-sidecar-missing")
    assert not timings["pretrain_reused"]  # trained again ...
    assert_state_dicts_equal(fresh, state)  # ... to the weights of a fresh training
    assert_state_dicts_equal(fresh, load_verified(weights, legacy="reject"))  # written again, with its sidecar


def test_verified_method_pt_is_reused_without_the_lock_and_damaged_one_only_under_it(trained, monkeypatch):
    """Reuse stays lock-free (a read-only artifacts folder works); a damaged file is handled under the lock."""
    from benchmark.orchestration import pipeline

    cfg, weights, fresh = trained
    real_exclusive, locked = pipeline.exclusive, []

    def exclusive(path, *a, **kw):
        locked.append(path)
        return real_exclusive(path, *a, **kw)

    monkeypatch.setattr(pipeline, "exclusive", exclusive)
    state, timings = pretrain_or_load(cfg)
    assert timings["pretrain_reused"] and locked == []
    assert_state_dicts_equal(fresh, state)
    flip_bit_in(weights, max(fresh.values(), key=torch.numel))
    state, timings = pretrain_or_load(cfg)
    assert not timings["pretrain_reused"] and locked == [weights.parent / "pretraining"]
    assert_state_dicts_equal(fresh, state)


def test_crash_after_the_sidecar_leaves_weights_that_are_trained_again(trained, caplog):
    """A run killed between writing the sidecar and the weights leaves a sidecar alone: trained, no warning."""
    cfg, weights, fresh = trained
    weights.unlink()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        state, timings = pretrain_or_load(cfg)
    assert not timings["pretrain_reused"] and "damaged" not in caplog.text and not set_aside_copies(weights)
    assert_state_dicts_equal(fresh, state)


def test_legacy_method_pt_is_accepted_once_and_verified_after(trained, caplog):
    cfg, weights, fresh = trained
    digest_path(weights).unlink()  # as written before this change
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        state, timings = pretrain_or_load(cfg)
    assert timings["pretrain_reused"] and f"{weights} has no sha256 sidecar" in caplog.text
    assert_state_dicts_equal(fresh, state)
    assert read_sidecar(weights) is not None  # its digest recorded then ...
    flip_bit_in(weights, max(fresh.values(), key=torch.numel))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        state, timings = pretrain_or_load(cfg)
    assert "damaged pretrained weights" in caplog.text and not timings["pretrain_reused"]  # ... and checked
    assert_state_dicts_equal(fresh, state)


def test_pretraining_stage_does_not_take_damaged_weights_for_done(trained):
    """cluster jobs: the pretraining stage must not skip to evaluation past a damaged method.pt."""
    from benchmark.orchestration import stages

    cfg, weights, fresh = trained
    truncate(weights)
    assert stages.pretrain_only(cfg) == str(weights)
    assert len(set_aside_copies(weights)) == 1
    assert_state_dicts_equal(fresh, load_verified(weights, legacy="reject"))


# ------------------------------------------------------------------------------------------------- gan.pt


def build_gan(cfg: dict):
    from benchmark.generators import build_generator

    return build_generator(cfg["generator"], cfg["data"], cfg["paths"]["artifacts"], torch.device("cpu"))


GAN_FAULTS = {
    "truncated": ("size mismatch", lambda w, G: truncate(w)),
    "bit-flipped": ("sha256 mismatch", lambda w, G: flip_bit_in(w, max(G.state_dict().values(), key=torch.numel))),
    "sidecar-altered": ("sha256 mismatch", lambda w, G: alter_sidecar(w)),
}


@pytest.mark.parametrize("fault", sorted(GAN_FAULTS))
def test_damaged_gan_pt_is_named_moved_aside_and_trained_again_to_the_same_gan(tmp_path, fmnist_replica,
                                                                                 one_thread, fault, caplog):
    cfg = smoke_config(tmp_path)
    fresh = build_gan(cfg)
    assert not fresh.reused
    weights = Path(fresh.artifact_dir) / "gan.pt"
    reason, inject = GAN_FAULTS[fault]
    inject(weights, fresh)
    damaged = weights.read_bytes()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        again = build_gan(cfg)
    assert f"damaged trained GAN {weights} ({reason}" in caplog.text, caplog.text
    (moved,) = set_aside_copies(weights)
    assert f"moved aside to {moved.name}; training the GAN again" in caplog.text and moved.read_bytes() == damaged
    assert not again.reused
    assert_state_dicts_equal(fresh.state_dict(), again.state_dict())  # G_ema, w_avg and the discriminator
    assert build_gan(cfg).reused  # written again, verified: reused from now on


def test_legacy_gan_pt_is_accepted_once(tmp_path, fmnist_replica, one_thread, caplog):
    cfg = smoke_config(tmp_path)
    fresh = build_gan(cfg)
    weights = Path(fresh.artifact_dir) / "gan.pt"
    digest_path(weights).unlink()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        again = build_gan(cfg)
    assert again.reused and f"{weights} has no sha256 sidecar" in caplog.text and read_sidecar(weights)
    assert_state_dicts_equal(fresh.state_dict(), again.state_dict())


# ----------------------------------------------------------------------------------------- feature caches


class Images(torch.utils.data.Dataset):
    def __init__(self, n: int = 12):
        self.images = torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], 0


def features(cache: Path, dataset=None):
    from benchmark.backbones import resnet18_cifar
    from tasks.linear.features import cached_evaluation_features

    torch.manual_seed(0)
    backbone = resnet18_cifar(width=4, in_channels=1)
    return cached_evaluation_features(backbone, dataset or Images(), "replica", "test", "t", torch.device("cpu"),
                                      str(cache), batch_size=5, num_workers=0)


def test_altered_feature_cache_that_still_unpickles_is_recomputed(tmp_path, caplog):
    first = features(tmp_path)
    (path,) = (tmp_path / "replica").glob("test-*.pt")
    torch.save(first + 1.0, path)  # a well-formed tensor of the right shape, other values: only the digest tells
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        again = features(tmp_path)
    assert f"damaged feature cache {path} (" in caplog.text and "recomputing the features" in caplog.text
    assert torch.equal(again, first)
    (moved,) = set_aside_copies(path)
    assert torch.equal(torch.load(moved), first + 1.0)
    assert torch.equal(load_verified(path, legacy="reject"), first)


def test_feature_cache_of_the_wrong_size_is_set_aside(tmp_path, caplog):
    first = features(tmp_path)
    (path,) = (tmp_path / "replica").glob("test-*.pt")
    save_verified(first[:5], path)  # intact, but not the features of this set
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        again = features(tmp_path)
    assert f"damaged feature cache {path} (holds 5 rows, not the 12 rows of the set)" in caplog.text
    assert torch.equal(again, first) and len(set_aside_copies(path)) == 1


def test_legacy_feature_cache_is_adopted_once(tmp_path, caplog):
    first = features(tmp_path)
    (path,) = (tmp_path / "replica").glob("test-*.pt")
    digest_path(path).unlink()
    torch.save(torch.full_like(first, 3.0), path)  # legacy: read back as it is, once
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        assert torch.all(features(tmp_path) == 3.0)
    assert f"{path} has no sha256 sidecar" in caplog.text and read_sidecar(path) is not None


# ------------------------------------------------------------------------------------------ NYUv2 normals cache


@pytest.mark.parametrize("fault", ["bit-flipped normals.npy", "truncated valid.npy", "sidecar-altered normals.npy"])
def test_damaged_nyuv2_normals_cache_is_moved_aside_and_rebuilt(tmp_path, fault, caplog):
    from benchmark.data import nyuv2
    from tests.helpers.replicas import write_nyuv2_replica

    _, normals, valid = write_nyuv2_replica(tmp_path)
    cache = tmp_path / "nyuv2" / "normals_cache"
    first = nyuv2.nyuv2_normals("train", root=str(tmp_path))[1][1]
    kind, name = fault.rsplit(" ", 1)
    path = cache / name
    before = path.read_bytes()
    if kind == "bit-flipped":
        raw = bytearray(before)
        raw[-7] ^= 0x04  # inside the array data: np.load maps it without complaint
        path.write_bytes(bytes(raw))
    elif kind == "truncated":
        truncate(path)
    else:
        alter_sidecar(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        target = nyuv2.nyuv2_normals("train", root=str(tmp_path))[1][1]
    assert f"damaged NYUv2 normals cache {path} (" in caplog.text and "rebuilding the cache from" in caplog.text
    (moved,) = set_aside_copies(path)
    assert moved.read_bytes() == damaged
    assert path.read_bytes() == before  # rebuilt to the same bytes ...
    assert torch.equal(target["normals"], first["normals"]) and torch.equal(target["valid"], first["valid"])
    for npy in ("normals.npy", "valid.npy"):
        load_verified(cache / npy, legacy="reject", load=lambda f: None)  # ... with sidecars that match


def test_nyuv2_cache_is_verified_once_per_process_while_unchanged_and_legacy_adopted(tmp_path, caplog, monkeypatch):
    from benchmark.data import nyuv2
    from tests.helpers.replicas import write_nyuv2_replica

    write_nyuv2_replica(tmp_path)
    cache = tmp_path / "nyuv2" / "normals_cache"
    nyuv2.nyuv2_normals("train", root=str(tmp_path))
    for npy in ("normals.npy", "valid.npy"):
        digest_path(cache / npy).unlink()  # a cache built before sidecars
    hashed, real_stream = [], artifacts._stream_sha256

    def counting(f, *a):
        hashed.append(f.name)
        return real_stream(f, *a)

    monkeypatch.setattr(artifacts, "_stream_sha256", counting)
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        nyuv2.nyuv2_normals("test", root=str(tmp_path))
    assert caplog.text.count("has no sha256 sidecar") == 2 and "damaged" not in caplog.text
    assert read_sidecar(cache / "normals.npy") and read_sidecar(cache / "valid.npy")
    hashed.clear()
    nyuv2.nyuv2_normals("train", root=str(tmp_path))  # verified once more (sidecars now), then remembered
    nyuv2.nyuv2_normals("test", root=str(tmp_path))
    assert sorted(Path(h).name for h in hashed) == ["normals.npy", "valid.npy"]
    raw = bytearray((cache / "valid.npy").read_bytes())
    raw[-1] ^= 0x01
    (cache / "valid.npy").write_bytes(bytes(raw))  # a changed file is checked again, not remembered
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        nyuv2.nyuv2_normals("test", root=str(tmp_path))
    assert f"damaged NYUv2 normals cache {cache / 'valid.npy'} (sha256 mismatch" in caplog.text


# ------------------------------------------------------------------------------------------------- export


def export(weights: Path, out: Path, monkeypatch, capsys) -> tuple[int, str]:
    from benchmark import export as export_module

    monkeypatch.setattr(sys, "argv", ["export", str(weights), "--depth", "18", "--out", str(out)])
    try:
        export_module.main()
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_export_refuses_damaged_weights_naming_the_file_and_leaves_them(tmp_path, monkeypatch, capsys, caplog):
    from benchmark.backbones import build_backbone

    backbone = build_backbone({"arch": "resnet18", "width": 64}, 3)
    weights = tmp_path / "sqsp-abc123" / "method.pt"
    state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    save_verified(state, weights)
    code, output = export(weights, tmp_path / "ok", monkeypatch, capsys)
    assert code == 0 and len(list((tmp_path / "ok").iterdir())) == 4  # pkl, yaml, pth, mmseg config

    flip_bit_in(weights, state["backbone.layer4.1.conv2.weight"])
    damaged = weights.read_bytes()
    code, output = export(weights, tmp_path / "bad", monkeypatch, capsys)
    assert code == 2, output
    assert f"cannot export damaged weights {weights}: sha256 mismatch" in output
    assert not (tmp_path / "bad").exists() and weights.read_bytes() == damaged  # nothing written, nothing moved

    truncate(weights)
    assert export(weights, tmp_path / "bad", monkeypatch, capsys)[0] == 2
    digest_path(weights).unlink()
    code, output = export(weights, tmp_path / "bad", monkeypatch, capsys)  # no sidecar, and does not load
    assert code == 2 and f"{weights}: unreadable (" in output

    torch.save(state, weights)  # a user's own state dict: no sidecar, exported with a warning
    with caplog.at_level(logging.WARNING, logger="benchmark.verified_artifacts"):
        code, output = export(weights, tmp_path / "user", monkeypatch, capsys)
    assert code == 0 and "read without verification" in caplog.text and not digest_path(weights).exists()
