"""Data-parallel pretraining over several processes with torch.distributed: one process per GPU, on
one node (``torchrun --nproc_per_node=G launch.py ...``) or on several (``cluster=slurm`` with
``pretrain_nodes`` x ``pretrain_gpus_per_node`` SLURM tasks; submitit exports the rendezvous).

``pretrain.batch_size`` is the global batch, and a run on W processes sees what one process would:
every process draws the same global batch (real-image indices, generator latents, augmentation
parameters) from identically seeded RNGs and keeps its own contiguous rows of it. Then

- BatchNorm is synchronised (``distributed.sync_batchnorm``): statistics over the global batch.
  torch's ``SyncBatchNorm`` runs on CUDA only; on CPU (gloo) ``CpuSyncBatchNorm`` below does the same;
- batch statistics of embeddings (the variance and covariance terms of VICReg, Squeeze and Span) are
  computed over the gathered global batch when ``distributed.gather_statistics`` is true (the default:
  the paper's weights mu = 25, nu = 1 were tuned for statistics of the whole batch, the official VICReg
  code gathers across GPUs too, and a 2048 x 2048 covariance estimated from a 32-image shard has rank
  at most 31, so per-GPU terms would change the objective with the GPU count; the gather moves
  B x 2048 floats, a few MB, beside the gradient all-reduce of the whole network);
- gradients: ``gather_batch`` and the synchronised BatchNorm are differentiable collectives whose
  backward sums over processes, so each process holds W times the gradient of the global loss with
  respect to its own rows, and DDP's mean over processes gives the exact gradient of the global loss.

With both switches on, W processes follow the loss curve of one process at the same global batch up to
float rounding (tests/benchmark/pretraining/test_distributed.py runs it with two CPU processes). Either switch off changes
the objective, so the pretraining hash then records the world size (``objective_key``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataParallel:
    """Where this process stands among the pretraining processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    gather_statistics: bool = True
    sync_batchnorm: bool = True

    @property
    def is_main(self) -> bool:
        """The process that writes checkpoints, weights, metrics and records."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def local_size(self, n_global: int, what: str = "batch") -> int:
        if n_global % self.world_size:
            raise ValueError(f"the {what} of {n_global} does not split over {self.world_size} processes; "
                             f"choose a pretrain.batch_size whose synthetic and real parts divide by it")
        return n_global // self.world_size

    def rows(self, n_global: int) -> slice:
        """This process's contiguous rows of a global batch of ``n_global``."""
        n = self.local_size(n_global)
        return slice(self.rank * n, (self.rank + 1) * n)

    def gather_batch(self, z: torch.Tensor) -> torch.Tensor:
        """This process's rows concatenated with every other process's, in rank order, differentiably;
        ``z`` itself in one process or with gather_statistics off. Pass embeddings through it before a
        batch statistic (variance, covariance)."""
        if not self.distributed or not self.gather_statistics:
            return z
        return AllGather.apply(z)

    def mean_over_processes(self, values: dict[str, torch.Tensor]) -> dict[str, float]:
        """The mean of each scalar over processes (one all-reduce); the logged loss of the global batch."""
        names = list(values)
        stacked = torch.stack([values[k].detach().float().reshape(()) for k in names])
        if self.distributed:
            dist.all_reduce(stacked)
            stacked /= self.world_size
        return dict(zip(names, stacked.tolist()))

    def any_process(self, device: torch.device, *flags: bool) -> list[bool]:
        """Each flag, true on every process when it is true on any (so that all stop, or checkpoint, at the
        same step); one all-reduce for all of them."""
        if not self.distributed:
            return [bool(f) for f in flags]
        t = torch.tensor([float(bool(f)) for f in flags], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def all_gather_objects(self, obj) -> list:
        """Every process's ``obj`` (picklable), in rank order."""
        if not self.distributed:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE_PROCESS = DataParallel()


def launcher_rank() -> int:
    """This process's rank as the launcher (torchrun, submitit) set it, before any process group is joined;
    0 in a single process."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def from_environment(device: torch.device, gather_statistics: bool,
                     sync_batchnorm: bool) -> tuple[DataParallel, torch.device]:
    """Join the process group that the launcher describes (torchrun's or submitit's RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR, MASTER_PORT); returns this process's place and its device (GPU local_rank)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DataParallel(gather_statistics=gather_statistics, sync_batchnorm=sync_batchnorm), device
    rank, local_rank = launcher_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        # submitit may already restrict each task to its own GPU (then it is cuda:0)
        device = torch.device("cuda", local_rank if torch.cuda.device_count() > 1 else 0)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("process %d of %d joined the %s group at %s:%s (device %s)", rank, world_size, backend,
                 os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT"), device)
    return DataParallel(rank, world_size, local_rank, gather_statistics, sync_batchnorm), device


def objective_key(parallel_world_size: int, gather_statistics: bool, sync_batchnorm: bool):
    """What the pretraining hash records about data parallelism: nothing when the run is equivalent to one
    process (the default switches), else the world size and the switches that make it differ."""
    if parallel_world_size <= 1 or (gather_statistics and sync_batchnorm):
        return None
    return {"world_size": parallel_world_size, "gather_statistics": gather_statistics,
            "sync_batchnorm": sync_batchnorm}


class AllGather(torch.autograd.Function):
    """Every process's tensor, concatenated in rank order. Backward: each process's gradient of the whole
    gathered tensor, summed over processes, then this process's rows. (torch.distributed.nn's versions of
    these two collectives are deprecated since torch 2.10, in favour of a private module.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = dist.get_rank() * len(x), (dist.get_rank() + 1) * len(x)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rows[0]:ctx.rows[1]]


class AllReduceSum(torch.autograd.Function):
    """The sum over processes; backward sums the gradients over processes too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch, for CPU process groups (gloo),
    where torch's SyncBatchNorm refuses to run. Two differentiable all-reduces: the sums (for the mean),
    then the squared deviations from that mean (for the biased variance that normalises, and the unbiased
    one that updates the running estimate, as nn.BatchNorm does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        reduce_dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        sums = AllReduceSum.apply(torch.cat([x.sum(reduce_dims), count]))
        total = sums[-1]
        mean = sums[:-1] / total
        squares = AllReduceSum.apply((x - mean.view(shape)).pow(2).sum(reduce_dims))
        var = squares / total
        y = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(squares.detach() / (total - 1), alpha=momentum)
        return y


def synchronize_batchnorm(module: nn.Module, device: torch.device) -> Callable[[], None]:
    """Swap every BatchNorm of ``module`` for a synchronised one that shares its parameters and buffers;
    returns the function that swaps the originals back (they then hold the trained values)."""
    sync_cls = nn.SyncBatchNorm if device.type == "cuda" else CpuSyncBatchNorm
    swapped = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm) and not isinstance(child, (nn.SyncBatchNorm, CpuSyncBatchNorm)):
                sync = sync_cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
                if child.affine:
                    sync.weight, sync.bias = child.weight, child.bias
                if child.track_running_stats:
                    sync.running_mean, sync.running_var = child.running_mean, child.running_var
                    sync.num_batches_tracked = child.num_batches_tracked
                sync.train(child.training)
                setattr(parent, name, sync)
                swapped.append((parent, name, child))

    def restore() -> None:
        for parent, name, original in swapped:
            original.train(getattr(parent, name).training)
            setattr(parent, name, original)

    return restore


class TrainingStep(nn.Module):
    """DDP hooks its gradient all-reduce into a module's forward; a method's forward is its training step."""

    def __init__(self, method: nn.Module):
        super().__init__()
        self.method = method

    def forward(self, batch):
        return self.method.training_step(batch)
