"""Validation of the whole composed config before any work: every bad value at once, each named with its
key, its value and what is valid.

``run_experiment`` (and launch.py, for a sweep sent to a cluster) calls ``validate_config`` before any
dataset, GAN or pretraining work, so a config that cannot run fails in seconds with one ``ConfigError``
(launch.py: exit 2, one block of text), never after hours and never with a record. What is checked:

- the suite's own sections (``seed``, ``device``, ``pretrain``, ``backbone``, ``head``, ``augment``,
  ``objective``, ``gan_training``, ``eval``, ``distributed``): ``CORE_OPTIONS``, whose choices are
  imported from the modules that consume them, so a new choice is valid here the moment it exists there;
- the method's options against its ``Config`` dataclass (types from its annotations, unknown options)
  and the method's own ``Method.config_problems`` (ranges, choices);
- the task's options against its config dataclass, and the task's own checks (``__post_init__``);
- the generator's and the data set's options against their yaml in launch/ (an option that a preset
  set for another generator, such as the paper presets' ``generator.noise_mode`` under
  ``generator=small_gan``, is named with how to drop it), the generator's ``option_choices``, and the
  files the config names;
- the device (``device=cuda`` on a machine without CUDA).

Checks that need data on disk (a dataset's files, a pickle's contents) stay with the loaders, which run
right after, still before pretraining (``pipeline.build``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from benchmark.errors import UserError
from benchmark.orchestration.option_types import TYPE_WORDS, Option, is_instance, show, type_problems
from benchmark.registry import BACKBONES, DATASETS, GENERATORS, METHODS, TASKS, UnknownPluginError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "launch"


class ConfigError(UserError, ValueError):
    """Every problem found in one config; ``problems`` lists them as (key, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "\n".join(f"  {key}: {message}" for key, message in problems)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        super().__init__(f"invalid config ({count}; nothing was run):\n{lines}")


def core_options() -> dict[str, Option]:
    """The suite's own sections, ``<section>.<key>`` -> Option. Choices come from where they are used."""
    from benchmark.backbones import INPUT_NORMS
    from benchmark.orchestration.analysis_stage import ANALYSES, LABEL_SOURCES
    from benchmark.orchestration.quality_stage import QUALITY_MEASURES
    from benchmark.pretraining.augment import SYNTHETIC_PARAMETERS
    from benchmark.pretraining.engine import AUTOCASTS, LR_SCHEDULES, PRECISIONS
    from benchmark.toolkit.losses import VARIANCE_CONVENTIONS

    positive, count = Option(int, low=1), Option(int, low=0)
    weight = Option(float, low=0)
    return {
        "seed": Option(int, low=0), "anchors": Option(bool), "skip_existing": Option(bool),
        "pretrain.steps": positive,
        "pretrain.batch_size": Option(int, low=2),  # batch statistics (variance, BatchNorm) need two samples
        "pretrain.base_lr": Option(float, low=1e-12), "pretrain.momentum": Option(float, low=0, high=1),
        "pretrain.weight_decay": weight, "pretrain.lr_schedule": Option(str, choices=LR_SCHEDULES),
        "pretrain.steps_per_epoch": Option(int, nullable=True, low=1), "pretrain.warmup_steps": count,
        "pretrain.log_every": positive, "pretrain.checkpoint_every": positive,
        "pretrain.autocast": Option(str, choices=AUTOCASTS), "pretrain.precision": Option(str, choices=PRECISIONS),
        "pretrain.deterministic": Option(bool),
        "backbone.width": positive, "backbone.zero_init_residual": Option(bool),
        "backbone.input_norm": Option(str, choices=tuple(INPUT_NORMS)),
        "head.hidden_dim": positive, "head.hidden_layers": positive, "head.embed_dim": positive,
        "head.predictor_hidden_dim": positive, "head.simsiam_projector_layers": positive,
        "augment.crop_size": Option(int, nullable=True, low=8),
        "augment.synthetic": Option(str, choices=SYNTHETIC_PARAMETERS), "augment.blur_p": Option(float, low=0, high=1),
        "augment.blur_kernel": Option(int, nullable=True, low=1),
        "objective.lambda_rd": weight, "objective.mu_var": weight, "objective.nu_cov": weight,
        "objective.zg_varcov": Option(str),  # its choices are sqsp's (method.zg_varcov is checked there)
        "objective.vicreg_variance": Option(str, choices=VARIANCE_CONVENTIONS),
        "gan_training.steps": positive, "gan_training.batch_size": Option(int, low=2),
        "distributed.gather_statistics": Option(bool), "distributed.sync_batchnorm": Option(bool),
        "quality.measure": Option(str, nullable=True, choices=QUALITY_MEASURES),
        "quality.default_measure": Option(str, choices=QUALITY_MEASURES),
        "analysis.name": Option(str, nullable=True, choices=ANALYSES), "analysis.samples": Option(int, low=40),
        "analysis.batch_size": positive, "analysis.labels": Option(str, choices=LABEL_SOURCES),
        "analysis.classifier_checkpoint": Option(str, nullable=True),
        "quality.samples": Option(int, low=2), "quality.real_samples": Option(int, nullable=True, low=2),
        "quality.batch_size": positive, "quality.inception_weights": Option(str, nullable=True),
        "quality.classifier": Option(dict),
    }


# sections the suite reads key by key: any key there that CORE_OPTIONS does not know is a typo
CLOSED_SECTIONS = ("pretrain", "head", "augment", "objective", "gan_training", "distributed", "quality", "analysis")


def validate_config(cfg: dict) -> None:
    """Raise ConfigError naming every problem of the (resolved, plain) config; return when there is none."""
    problems: list[tuple[str, str]] = []
    problems += core_problems(cfg)
    problems += device_problems(cfg.get("device", "auto"), cfg)
    problems += method_problems(cfg)
    problems += task_problems(cfg)
    problems += generator_problems(cfg)
    problems += data_problems(cfg)
    problems += eval_problems(cfg.get("eval") or {})
    problems += stem_problems(cfg)
    if problems:
        raise ConfigError(problems)


def core_problems(cfg: dict) -> list[tuple[str, str]]:
    problems = []
    options = core_options()
    for key, option in options.items():
        section, _, name = key.rpartition(".")
        holder = cfg.get(section) if section else cfg
        if not isinstance(holder, dict) or name not in holder:
            continue  # a section a config predates (augment, objective) takes its neutral default
        value = holder[name]
        if not option.accepts(value):
            problems.append((key, f"{show(value)} is not valid; must be {option.describe()}"))
    for section in CLOSED_SECTIONS:
        known = {k.partition(".")[2] for k in options if k.startswith(section + ".")}
        for name in sorted(set(cfg.get(section) or {}) - known):
            problems.append((f"{section}.{name}", f"unknown option of {section}; valid: {', '.join(sorted(known))}"))
    arch = (cfg.get("backbone") or {}).get("arch")
    if arch is not None and arch not in BACKBONES.names():
        problems.append(("backbone.arch", f"{show(arch)} is not a registered backbone; valid: "
                                          f"{', '.join(BACKBONES.names())}"))
    pretrain = cfg.get("pretrain") or {}
    if pretrain.get("lr_schedule") == "per_epoch" and pretrain.get("steps_per_epoch") is None:
        problems.append(("pretrain.steps_per_epoch", "null, but pretrain.lr_schedule=per_epoch needs it: the "
                                                     "number of steps in one epoch (97 in the authors' CIFAR recipe)"))
    steps, warmup = pretrain.get("steps"), pretrain.get("warmup_steps")
    if is_instance(steps, int) and is_instance(warmup, int) and steps >= 1 and warmup > steps:
        problems.append(("pretrain.warmup_steps", f"{warmup} is longer than pretrain.steps={steps}; "
                                                  "must be <= pretrain.steps"))
    quality = cfg.get("quality") or {}
    if quality.get("measure"):
        for name in ("samples", "real_samples", "batch_size", "inception_weights", "classifier"):
            if name not in quality:
                problems.append((f"quality.{name}", f"missing, and quality.measure={quality['measure']} needs it; "
                                                    "the preset sets it (e.g. launch/preset/embedded.yaml)"))
    classifier = quality.get("classifier")
    if isinstance(classifier, dict):
        from benchmark.quality.reference_classifier import TrainConfig

        valid = {f.name for f in dataclasses.fields(TrainConfig)}
        for name in sorted(set(classifier) - valid):
            problems.append((f"quality.classifier.{name}", f"unknown option of the reference classifier's training; "
                                                           f"valid: {', '.join(sorted(valid))}"))
    analysis = cfg.get("analysis") or {}
    checkpoint = analysis.get("classifier_checkpoint")
    if isinstance(checkpoint, str) and not Path(checkpoint).expanduser().is_file():
        problems.append(("analysis.classifier_checkpoint", f"{checkpoint!r}: no such file"))
    if analysis.get("name") and analysis.get("labels") == "checkpoint" and checkpoint is None:
        problems.append(("analysis.classifier_checkpoint", "null, but analysis.labels=checkpoint needs it: the "
                                                           "WRN-28-2 CIFAR-10 classifier checkpoint file"))
    kernel = (cfg.get("augment") or {}).get("blur_kernel")
    if is_instance(kernel, int) and kernel % 2 == 0:
        problems.append(("augment.blur_kernel", f"{kernel} is even; must be an odd size (e.g. {kernel + 1})"))
    return problems


def device_problems(name: Any, cfg: dict) -> list[tuple[str, str]]:
    import torch

    if not isinstance(name, str):
        return [("device", f"{show(name)} is not valid; must be auto, cpu, cuda or cuda:<index>")]
    if name == "auto":
        resolved = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        try:
            resolved = str(torch.device(name))
        except RuntimeError:
            return [("device", f"{show(name)} is not a device; must be auto, cpu, cuda or cuda:<index>")]
    problems = []
    if resolved.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = torch.device(resolved).index or 0
        if count == 0:
            problems.append(("device", f"{show(name)}, but torch sees no CUDA device on this machine; use "
                                       "device=cpu or device=auto"))
        elif index >= count:
            problems.append(("device", f"{show(name)}, but this machine has {count} CUDA device(s): "
                                       f"cuda:0..cuda:{count - 1}"))
    elif resolved not in ("cpu",) and not resolved.startswith("mps"):
        problems.append(("device", f"{show(name)} is not supported; must be auto, cpu, cuda or cuda:<index>"))
    if (cfg.get("pretrain") or {}).get("precision") == "float64" and resolved != "cpu":
        problems.append(("pretrain.precision", f"float64 is for exactness checks on the CPU, but device is "
                                               f"{resolved}; use device=cpu"))
    return problems


# -------------------------------------------------------------------------- dataclass-backed options
def registered(registry, cfg: dict, group: str) -> tuple[Any, dict, list[tuple[str, str]]]:
    """The plugin a config section names, the section's options, and the problem when the name is unknown."""
    section = cfg.get(group) or {}
    try:
        plugin = registry.get(section.get("name"))
    except UnknownPluginError as e:
        return None, {}, [(group, str(e))]
    return plugin, {k: v for k, v in section.items() if k != "name"}, []


def method_problems(cfg: dict) -> list[tuple[str, str]]:
    from benchmark.orchestration.identity import method_config

    method_cls, options, problems = registered(METHODS, cfg, "method")
    if method_cls is None:
        return problems
    problems = type_problems("method", options, method_cls.Config, f"method {method_cls.name!r}")
    if problems:
        return problems  # the dataclass is not built from values of the wrong type
    try:
        method_cfg = method_config(cfg, method_cls)
    except (ValueError, TypeError) as e:
        return [("method", str(e))]
    return [(f"method.{key}", f"{show(getattr(method_cfg, key, None))} is not valid; {message}")
            for key, message in method_cls.config_problems(method_cfg)]


def task_problems(cfg: dict) -> list[tuple[str, str]]:
    task_cls, options, problems = registered(TASKS, cfg, "task")
    if task_cls is None:
        return problems
    backend = backend_problems(task_cls, options, cfg)
    if backend:
        return backend
    try:
        schema = type(task_cls({}).cfg)  # the task's config dataclass, from its defaults
    except Exception:  # noqa: BLE001 - a task without defaults for every option: checked by building it below
        schema = None
    if schema is not None and dataclasses.is_dataclass(schema):
        problems = type_problems("task", options, schema, f"task {task_cls.name!r}")
        if problems:
            return problems
    try:
        task_cls(options)
    except (ValueError, TypeError, KeyError) as e:
        return [("task", f"task {task_cls.name!r}: {e}")]
    return []


FRAMEWORK_ARCHS = ("resnet50",)  # the published detectron2 / mmseg recipes are ResNet-50's (R50-C4, UPerNet R50)


def backend_problems(task_cls, options: dict, cfg: dict) -> list[tuple[str, str]]:
    """``task.backend`` (``backend=<name>``): one the task has (``Task.backends``); a framework backend's
    published recipe is a ResNet-50's, so it needs ``backbone.arch=resnet50``."""
    if "backend" not in options:
        return []
    backend = options["backend"]
    if not task_cls.backends:
        having = ", ".join(f"task={name} ({' | '.join(TASKS.get(name).backends)})" for name in TASKS.names()
                           if TASKS.get(name).backends)
        return [("task.backend", f"backend={show(backend)}: task {task_cls.name} has one implementation and no "
                                 f"backend to choose; backends exist for {having}")]
    if backend not in task_cls.backends:
        return [("task.backend", f"{show(backend)} is not valid; must be one of {', '.join(task_cls.backends)} "
                                 f"(task {task_cls.name})")]
    arch = (cfg.get("backbone") or {}).get("arch")
    if backend != "builtin" and arch not in FRAMEWORK_ARCHS:
        return [("backbone.arch", f"{show(arch)} does not fit backend={backend}: its recipe fine-tunes a ResNet-50 "
                                  f"(torchvision layout); use backbone.arch=resnet50 (preset=imagenet100 or "
                                  f"imagenet pretrain one), or backend=builtin")]
    return []


def eval_problems(section: dict) -> list[tuple[str, str]]:
    """The preset's evaluation limits (tasks/limits.py reads them; the core does not import a task family):
    each a count (null or an integer >= 1), except ``wd_grid``, a logspace [start, stop, count]. A key that
    is not a limit is refused by Hydra on the command line and by the task when it reads the section."""
    problems = []
    for key, value in section.items():
        if key == "wd_grid":
            ok = value is None or (is_instance(value, list) and len(value) == 3 and is_instance(value[2], int)
                                   and value[2] >= 1 and all(is_instance(v, float) for v in value[:2]))
            what = "null or [start, stop, count]: two numbers (powers of ten) and an integer count >= 1"
        else:
            ok, what = value is None or (is_instance(value, int) and value >= 1), "null or an integer >= 1"
        if not ok:
            problems.append((f"eval.{key}", f"{show(value)} is not valid; must be {what}"))
    return problems


def stem_problems(cfg: dict) -> list[tuple[str, str]]:
    """A task on full-resolution photographs (``Task.full_resolution``: VOC, ADE20K, NYUv2) refuses a backbone
    whose stem is made for 32 px images (``stem = "cifar"`` on its builder): pretrained at 32 px, kept at
    full resolution through its first stage, its features on a 500 px photograph mean nothing."""
    arch, task = (cfg.get("backbone") or {}).get("arch"), (cfg.get("task") or {}).get("name")
    try:
        builder, task_cls = BACKBONES.get(arch), TASKS.get(task)
    except UnknownPluginError:
        return []  # reported by the checks of backbone.arch and task
    if not (task_cls.full_resolution and getattr(builder, "stem", None) == "cifar"):
        return []
    fitting = presets_without_cifar_stem()
    presets = (f"presets with one: {', '.join(f'preset={p}' for p in fitting)}" if fitting else
               "no shipped preset has one yet")
    return [("backbone.arch", f"{show(arch)} has a CIFAR stem (3x3 stride-1 conv, no max-pool: made for 32 px "
                              f"images), but task {task} fine-tunes on full-resolution photographs (hundreds of px), "
                              "where such features mean nothing; use an ImageNet-stem backbone (backbone.arch="
                              f"resnet50 or resnet18); {presets}")]


def presets_without_cifar_stem() -> list[str]:
    """The shipped presets whose backbone has an ImageNet stem (launch/preset/*.yaml, ``backbone.arch``)."""
    found = []
    for path in sorted((CONFIG_DIR / "preset").glob("*.yaml")):
        arch = OmegaConf.select(OmegaConf.load(path), "backbone.arch")
        try:
            if arch is not None and getattr(BACKBONES.get(arch), "stem", None) != "cifar":
                found.append(path.stem)
        except UnknownPluginError:
            continue
    return found


# ------------------------------------------------------------------------------- yaml-backed options
def yaml_schema(group: str, registered: str, declared: Optional[dict] = None) -> Optional[dict]:
    """The options of a registered generator or data set: those its builder declares (``declared``) and
    those of every yaml in launch/<group>/ whose ``name`` is it, with the yaml's default (its type is the
    option's type; null or an interpolation: any type); None for a plugin that ships and declares none."""
    files = [p for p in sorted((CONFIG_DIR / group).glob("*.yaml")) if OmegaConf.load(p).get("name") == registered]
    if not files and declared is None:
        return None
    schema: dict = dict(declared or {})
    for path in files:
        node = OmegaConf.load(path)
        for key in node:
            raw = node._get_node(key)._value()  # the yaml's own value: an interpolation stays a string
            if key not in schema or schema[key] is None:
                schema[key] = None if isinstance(raw, str) and "${" in raw else OmegaConf.to_container(
                    node, resolve=False)[key]
    return schema


def schema_problems(group: str, section: dict, registered: str, schema: dict, preset: str) -> list[tuple[str, str]]:
    problems = []
    for key, value in section.items():
        if key == "name":
            continue
        if key not in schema:
            problems.append((f"{group}.{key}", f"{group} {registered} has no option {key!r} (set by preset={preset} "
                                               f"or an override, for another {group}); drop it with "
                                               f"~{group}.{key}; {registered}'s options: "
                                               f"{', '.join(k for k in schema if k != 'name')}"))
            continue
        default = schema[key]
        kind = (bool if isinstance(default, bool) else float if isinstance(default, float) else
                int if isinstance(default, int) else str if isinstance(default, str) else
                list if isinstance(default, list) else None)
        if kind is not None and value is not None and not is_instance(value, kind):
            problems.append((f"{group}.{key}", f"{show(value)} is not valid; must be {TYPE_WORDS[kind]}"))
    return problems


FILE_OPTIONS = ("pickle", "checkpoint")  # generator options that name a file the user provides


def generator_problems(cfg: dict) -> list[tuple[str, str]]:
    builder, _, problems = registered(GENERATORS, cfg, "generator")
    if builder is None:
        return problems
    section, name = cfg["generator"], cfg["generator"]["name"]
    schema = yaml_schema("generator", name, getattr(builder, "options", None))
    problems = [] if schema is None else schema_problems("generator", section, name, schema, cfg.get("preset"))
    for key, choices in getattr(builder, "option_choices", {}).items():
        if key in section and section[key] not in choices:
            problems.append((f"generator.{key}", f"{show(section[key])} is not valid; must be one of "
                                                 f"{', '.join(map(str, choices))}"))
    for key in FILE_OPTIONS:
        value = section.get(key)
        if isinstance(value, str) and "://" not in value and not Path(value).expanduser().exists():
            problems.append((f"generator.{key}", f"{value!r}: no such file or folder"))
    if schema is not None and "pickle" in schema and "url" in schema and not section.get("pickle") \
            and not section.get("url"):
        wanted = f" (the network's file is {section['expected_file']})" if section.get("expected_file") else ""
        problems.append(("generator.pickle", f"not set; generator {name} needs a network pickle{wanted}: "
                                             "generator.pickle=<file> or generator.url=<url>"))
    return problems


def data_problems(cfg: dict) -> list[tuple[str, str]]:
    section = cfg.get("data") or {}
    name = section.get("name")
    if name not in DATASETS.names():
        return [("data", f"unknown dataset {show(name)}; valid datasets: {', '.join(DATASETS.names())}")]
    schema = yaml_schema("data", name)
    return [] if schema is None else schema_problems("data", section, name, schema, cfg.get("preset"))
