"""The three plugin contracts: Generator, Method, Task.

Images everywhere are float32 in [-1, 1], shape (N, C, H, W), the range GAN generators produce.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

import torch
from torch import nn


# --------------------------------------------------------------------------------------- generators
@dataclass
class GeneratorOutput:
    images: torch.Tensor  # (N, C, H, W) in [-1, 1]
    features: list[torch.Tensor]  # one map per synthesis block, coarse to fine (b4, b8, ...)
    w: torch.Tensor  # (N, w_dim) intermediate latent
    labels: Optional[torch.Tensor] = None  # (N,) class ids for conditional generators

    def select(self, rows: slice) -> "GeneratorOutput":
        return GeneratorOutput(images=self.images[rows], features=[f[rows] for f in self.features], w=self.w[rows],
                               labels=None if self.labels is None else self.labels[rows])


class Generator(nn.Module):
    """A pretrained, frozen image generator that also exposes its intermediate features."""

    name: ClassVar[str]
    z_dim: int
    w_dim: int
    num_classes: int = 0
    image_channels: int
    resolution: int
    feature_names: list[str]
    feature_shapes: list[tuple[int, int, int]]  # (C, H, W) of each entry of GeneratorOutput.features
    # The GAN's discriminator where one exists (read it with getattr(generator, "discriminator", None): a
    # class-level default would shadow the submodule); ``discriminator.features(images)`` returns
    # (every block's output map, the flat input of the final fc layer).
    discriminator: nn.Module

    def synthesize(self, w: torch.Tensor) -> GeneratorOutput:
        """Images and block features from given latents w (differentiable with respect to w)."""
        raise NotImplementedError

    def sample(
        self,
        n: int,
        labels: Optional[torch.Tensor] = None,
        truncation: float = 1.0,
        rng: Optional[torch.Generator] = None,
    ) -> GeneratorOutput:
        raise NotImplementedError

    def sample_rows(self, n: int, rows: slice, rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        """The rows ``rows`` of what ``sample(n, rng=rng)`` returns, leaving ``rng`` where ``sample`` would:
        one process's share of a global batch in data-parallel pretraining. This default synthesizes all
        ``n`` and keeps the rows; a generator that draws its latents first overrides it to synthesize only
        its rows."""
        return self.sample(n, rng=rng).select(rows)


# ------------------------------------------------------------------------------------------ methods
@dataclass
class Batch:
    """What the engine hands a method each step; a field is None when the method does not consume it."""

    syn: Optional[GeneratorOutput] = None
    real: Optional[torch.Tensor] = None  # un-augmented real images; the method augments


@dataclass
class MethodContext:
    """Everything a method may build its trainable parts from."""

    backbone: nn.Module  # has .feature_dim; forward(images) -> (N, feature_dim)
    generator: Optional[Generator]
    image_channels: int
    image_size: int
    # make_augment(source="real" | "synthetic", **overrides) -> the batched augmentation of images from that
    # source under the preset's ``augment`` section (e.g. one parameter set per synthetic batch, as the
    # Squeeze-and-Span authors' code); ``overrides`` are the method's own choices and win
    make_augment: Callable[..., nn.Module]
    # Pass embeddings through it before a batch statistic (variance, covariance): in data-parallel
    # pretraining it concatenates every process's rows, differentiably (benchmark/pretraining/distributed.py);
    # in one process it returns its input.
    gather_batch: Callable[[torch.Tensor], torch.Tensor] = lambda z: z


class Method(nn.Module):
    """A pretraining method plugin.

    Subclasses set ``Config`` (a dataclass of hyperparameters; the Hydra group ``method`` fills it),
    ``consumes`` (a subset of {"generator", "real"}), build their trainable modules in ``__init__``,
    and implement ``training_step``. Register with ``@METHODS.register("<name>")``.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    consumes: ClassVar[frozenset] = frozenset()
    needs_training: ClassVar[bool] = True
    version: ClassVar[int] = 1  # bump when a change to the code changes what training produces
    # A method that does not train and reads nothing but the images (the anchors): the config sections beyond
    # the images it is shown (the data, the crop size) and the seed that shape its features, e.g. ("backbone",)
    # for a randomly initialised backbone; its run is keyed by these and the task alone (identity.py), so a
    # change to pretrain.*, a generator or another method's options does not evaluate it again. None: keyed
    # like any method, by the whole pretraining key (e.g. a GAN's discriminator, which comes with its generator).
    shaped_by: ClassVar[Optional[tuple]] = None

    def __init__(self, cfg: Any, ctx: MethodContext):
        super().__init__()
        problems = type(self).config_problems(cfg)
        if problems:
            raise ValueError(f"method {self.name!r}: " + "; ".join(
                f"{key}={getattr(cfg, key, None)!r} {message}" for key, message in problems))
        self.cfg = cfg
        self.backbone = ctx.backbone

    @classmethod
    def make_config(cls, values: dict) -> Any:
        """The config dataclass from a plain dict; unknown keys are an error that names the valid ones."""
        valid = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"method {cls.name!r} has no option(s) {unknown}; valid options: {sorted(valid)}")
        cfg = cls.Config(**values)
        # a default such as II("head.embed_dim") is filled by the preset when Hydra composes the config
        unresolved = {f.name: v for f in dataclasses.fields(cfg) if isinstance(v := getattr(cfg, f.name), str)
                      and v.startswith("${")}
        if unresolved:
            raise ValueError(f"method {cls.name!r}: options {unresolved} come from the preset when launch.py composes "
                             "the config; outside it, pass their values")
        return cfg

    @classmethod
    def config_problems(cls, cfg: Any) -> list[tuple[str, str]]:
        """What is wrong with the option values of ``cfg`` (the Config dataclass), as (option, what is valid)
        pairs, e.g. ``("alpha", "must be in (0, 1]")``; empty when nothing is. Checked before any work when
        launch.py validates the config (benchmark/orchestration/validation.py), and again when the method
        is built. Types are checked from the Config's annotations already; a method adds its ranges and
        choices here. Default: nothing more."""
        return []

    @classmethod
    def consumed_sources(cls, cfg: Any) -> frozenset:
        """What a run with this config consumes: ``consumes``, unless an option decides (e.g. ``domain``)."""
        return cls.consumes

    def split_batch(self, batch_size: int) -> tuple[int, int]:
        """How many (synthetic, real) samples one step of ``batch_size`` takes."""
        sources = self.consumed_sources(self.cfg)
        if sources == {"generator"}:
            return batch_size, 0
        if sources == {"real"}:
            return 0, batch_size
        if not sources:
            return 0, 0
        raise NotImplementedError(f"{type(self).__name__} consumes both sources and must split the batch")

    def begin_step(self, step: int, total_steps: int) -> None:
        """Called by the engine before each step's batch is drawn (0-based ``step`` of ``total_steps``, the
        same on resume): a schedule of the method's own (e.g. BYOL's target momentum) reads them here.
        Default: ``self.step`` and ``self.total_steps`` are set."""
        self.step, self.total_steps = step, total_steps

    def after_optimizer_step(self) -> None:
        """Called by the engine right after each optimizer step, outside autograd: an EMA target (BYOL,
        DINO) is updated here from the weights the step produced. Default: nothing."""

    def parameter_groups(self) -> list[dict]:
        """Optimizer parameter groups. A group with ``"fixed_lr": True`` keeps the peak learning rate
        instead of following the schedule (SimSiam's predictor)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Losses of one step; ``out["loss"]`` is the one optimised, the others are logged."""
        raise NotImplementedError

    def evaluation_backbone(self) -> nn.Module:
        """The network whose features the tasks evaluate (``.feature_dim`` wide)."""
        return self.backbone

    def describe(self) -> dict[str, Any]:
        """Conventions a result should record (e.g. which variance convention was used)."""
        return {}


# -------------------------------------------------------------------------------------------- tasks
@dataclass
class TaskContext:
    device: torch.device
    data_cfg: Any  # the ``data`` config section (where datasets live)
    cache_dir: str
    eval_cfg: Any = field(default_factory=dict)  # preset-wide evaluation limits
    datasets_root: Optional[str] = None  # evaluation datasets, each in its usual sub-folder (paths.datasets)
    features_cache: Optional[str] = None  # where frozen features are cached; None = not cached
    work_root: Optional[str] = None  # where a task keeps its own training state (a framework's checkpoints, so
                                     # a long fine-tuning resumes); None = a temporary folder per run
    image_channels: int = 3  # what the backbone takes: evaluation images are converted to it
    image_size: int = 32  # the pretraining resolution (the embedded protocol evaluates at it)
    # the run's generator, for a task that declares ``uses_generator`` (e.g. rep_discrepancy); else None
    generator: Optional["Generator"] = None


class Task:
    """An evaluation of a frozen backbone. ``run`` returns metrics; ``headline`` names the leaderboard one."""

    name: ClassVar[str]
    headline: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    # the reference rows evaluated beside every method (methods/anchors.py); a task that needs stage
    # maps (detection, segmentation) cannot take raw pixels
    anchors: ClassVar[tuple] = ("raw_pixels", "random_init")
    # fine-tunes on full-resolution natural images (hundreds of px): a backbone whose stem is made for 32 px
    # images (``stem = "cifar"`` on its builder) is refused before any work (orchestration/validation.py)
    full_resolution: ClassVar[bool] = False
    # the frameworks that can run this task (``task.backend``, chosen with ``backend=<name>`` on the command
    # line): "builtin" is the suite's own code; () = the task has no choice of backend
    backends: ClassVar[tuple] = ()
    # reads the run's generator (``TaskContext.generator``) whether or not the method learnt from it; the
    # generator is then part of the run's identity (orchestration/identity.run_key)
    uses_generator: ClassVar[bool] = False

    def __init__(self, cfg: Any):
        self.cfg = cfg

    def check_data(self, ctx: TaskContext) -> None:
        """Raise (e.g. DatasetNotFoundError) if the task's data is missing; called before pretraining,
        so a missing dataset fails in seconds, not after hours. Default: nothing to check."""

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        raise NotImplementedError

    def evaluation_images(self, ctx: TaskContext) -> Optional[dict]:
        """The images this task shows the backbone against the dataset's own, written into every record as
        ``evaluation_images`` (``describe_evaluation_images``; a suite of tasks: ``{"converted", "members"}``)
        so that a leaderboard can say when an evaluation converted them (an RGB set shown to a 1-channel
        backbone in gray, a set resized away from its size). Called after ``run``, which may remember what it
        opened. Default: None, the task does not say."""
        return None

    def recipe(self, ctx: TaskContext) -> Optional[dict]:
        """What produced the number, written into every record as ``task_recipe``: ``{"backend", "protocol",
        "deviations": [...]}`` (the framework and the published protocol it follows, and where this run
        differs from it, the preset's ``ctx.eval_cfg`` limits included), so that a leaderboard can say which
        backend and recipe a cell comes from. Default: None (the task's yaml is the whole story)."""
        return None


def describe_evaluation_images(dataset: str, native: dict, used: dict) -> dict:
    """The ``evaluation_images`` of one dataset: ``native`` and ``used`` are ``{"mode", "channels", "size"}``
    (``benchmark.data.image_sets.image_format``; size in px, "WxH", or "variable"); ``converted`` when the
    channels differ, or both sizes are fixed and differ (a set of variable size is resized by any task)."""
    sizes = (native["size"], used["size"])
    resized = "variable" not in sizes and sizes[0] != sizes[1]
    return {"dataset": dataset, "native": dict(native), "used": dict(used),
            "converted": native["channels"] != used["channels"] or resized}
