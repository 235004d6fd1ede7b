"""One home per default: a method's yaml (launch/method/<name>.yaml) declares exactly its config dataclass's
options with the same defaults, for every registered method (registry-driven)."""
from __future__ import annotations

import dataclasses
import shutil

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.registry import METHODS
from tests.helpers.launching import REPO

PRESETS = sorted(p.stem for p in (REPO / "launch" / "preset").glob("*.yaml"))


def dataclass_defaults(cls) -> dict:
    return {f.name: getattr(cls.Config(), f.name) for f in dataclasses.fields(cls.Config)}


def yaml_defaults(config_dir, name: str) -> dict:
    """The method node as ``launch.py method=<name> --cfg job`` shows it: interpolations unresolved."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        node = OmegaConf.to_container(compose("config", overrides=[f"method={name}"]).method, resolve=False)
    assert node.pop("name") == name
    return node


def disagreements(config_dir, name: str) -> dict:
    ours, theirs = yaml_defaults(config_dir, name), dataclass_defaults(METHODS.get(name))
    return {k: (ours.get(k, "<not in the yaml>"), theirs.get(k, "<not in the dataclass>"))
            for k in sorted(set(ours) | set(theirs)) if ours.get(k, ()) != theirs.get(k, ())}


@pytest.mark.parametrize("name", [n for n in METHODS.names() if (REPO / "launch" / "method" / f"{n}.yaml").exists()])
def test_method_yaml_and_dataclass_declare_the_same_defaults(name):
    assert disagreements(REPO / "launch", name) == {}


def test_a_yaml_that_drifts_from_its_dataclass_is_caught(tmp_path):
    config_dir = tmp_path / "launch"
    shutil.copytree(REPO / "launch", config_dir)
    vicreg = config_dir / "method" / "vicreg.yaml"
    vicreg.write_text(vicreg.read_text().replace("embed_dim: ${head.embed_dim}", "embed_dim: 2048") + "extra: 1\n")
    assert disagreements(config_dir, "vicreg") == {"embed_dim": (2048, "${head.embed_dim}"),
                                                    "extra": (1, "<not in the dataclass>")}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", METHODS.names())
def test_every_preset_fills_every_option(name, preset):
    """Sizes the dataclass takes from the preset (II("head.embed_dim")) resolve to numbers in every preset."""
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=[f"method={name}", f"preset={preset}"])
    options = OmegaConf.to_container(cfg.method, resolve=True)
    options.pop("name")
    config = METHODS.get(name).make_config(options)
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        assert not (isinstance(value, str) and value.startswith("${")), (field.name, value)


def test_a_config_built_outside_hydra_names_the_options_the_preset_fills():
    with pytest.raises(ValueError, match="embed_dim.*come from the preset"):
        METHODS.get("vicreg").make_config({})
