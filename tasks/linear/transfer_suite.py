"""Transfer suites (``task=transfer_linear | transfer_embedded``): several linear tasks on one backbone,
each member's metric and their average (the headline)."""
from __future__ import annotations

from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from tasks.linear import classification  # noqa: F401  (registers the linear_<name> member tasks)


@TASKS.register("transfer_linear")
class TransferSuite(Task):
    """Several linear tasks on one backbone; reports each one's metric and their average.

    Config: ``members`` (key -> a linear_<name> task config); any other key is set in every member
    (how a preset such as smoke shortens the sweep of all of them: ``task.wd_grid=[-1,1,2]``).
    """

    headline = "average"
    higher_is_better = True

    def __init__(self, cfg: dict):
        cfg = dict(cfg)
        members = dict(cfg.pop("members", None) or {})
        super().__init__({"members": members, "shared": cfg})
        if not members:
            raise ValueError("a transfer suite needs at least one member task")
        self.members = {}
        for key, member in members.items():
            member = {**dict(member), **cfg}
            self.members[key] = TASKS.get(member.pop("name"))(member)

    def check_data(self, ctx: TaskContext) -> None:
        for task in self.members.values():
            task.check_data(ctx)

    def run(self, backbone, ctx: TaskContext) -> dict[str, float]:
        metrics = {}
        for key, task in self.members.items():
            result = task.run(backbone, ctx)
            metrics[key] = result[task.headline]
            metrics.update({f"{key}/{k}": v for k, v in result.items()})
        metrics["average"] = sum(metrics[k] for k in self.members) / len(self.members)
        metrics["feature_dim"] = next(metrics[f"{k}/feature_dim"] for k in self.members)
        return metrics

    def evaluation_images(self, ctx: TaskContext) -> dict:
        """Each member's (None where a member does not say); ``converted`` when any member converted."""
        members = {key: task.evaluation_images(ctx) for key, task in self.members.items()}
        return {"converted": any(m is not None and m["converted"] for m in members.values()), "members": members}


TASKS.register("transfer_embedded")(type("TransferEmbedded", (TransferSuite,), {
    "__doc__": "The offline transfer suite: Fashion-MNIST and scikit-learn's digits (launch/task/transfer_embedded.yaml)."}))
