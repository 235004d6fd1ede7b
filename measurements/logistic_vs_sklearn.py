"""Our L-BFGS logistic regression against scikit-learn's, on the same features, side by side.

The transfer protocol's cost is the weight-decay sweep: 45 values of logspace(-6, 5), each fitted on
the train part and scored on a validation hold-out, warm-started from the previous (stronger) decay,
then one refit on train + validation scored on test. This script runs exactly that with
``benchmark.logistic.LogisticPath`` (what ``tasks/linear/protocol.py`` uses) and with ``sklearn.linear_model.LogisticRegression(solver="lbfgs")``
(C = 1/wd, the same objective) and prints wall time and accuracies.

Features: Fashion-MNIST pixels through a fixed random ReLU projection to ``--dim`` dimensions
(real images, 10 classes, no network needed), standardised; ``--n`` training rows, the 10k test split.

    python measurements/logistic_vs_sklearn.py --n 50000 --dim 512
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch

from benchmark.data import build_dataset
from benchmark.data.in_memory import to_float
from tasks.linear.logistic import LogisticPath, predict


def random_relu_features(images: torch.Tensor, dim: int, seed: int) -> torch.Tensor:
    x = to_float(images).flatten(1)
    projection = torch.randn(x.shape[1], dim, generator=torch.Generator().manual_seed(seed)) / x.shape[1] ** 0.5
    return torch.relu(x @ projection)


def sweep_ours(x_fit, y_fit, x_val, y_val, x_all, y_all, x_test, y_test, grid, max_iter, tol=None):
    tol = {} if tol is None else {"tolerance_grad": tol}
    t0 = time.perf_counter()
    best, path = (None, -1.0), LogisticPath(x_fit, y_fit, 10, max_iter, **tol)
    for wd in grid:
        weights = path.fit(wd)
        acc = (predict(x_val, weights) == y_val).float().mean().item()
        if acc > best[1]:
            best = (wd, acc)
    refit = LogisticPath(x_all, y_all, 10, max_iter, **tol)
    test = (predict(x_test, refit.fit(best[0])) == y_test).float().mean().item()
    return {"seconds": time.perf_counter() - t0, "wd": best[0], "val": 100 * best[1], "test": 100 * test,
            "loss evaluations": path.evaluations + refit.evaluations}


def sweep_sklearn(x_fit, y_fit, x_val, y_val, x_all, y_all, x_test, y_test, grid, max_iter, tol=1e-4):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    warnings.simplefilter("ignore", ConvergenceWarning)  # same iteration cap as ours; it is reported below
    t0 = time.perf_counter()
    best, iterations = (None, -1.0), 0
    model = LogisticRegression(solver="lbfgs", max_iter=max_iter, tol=tol, warm_start=True)
    for wd in grid:
        model.set_params(C=1.0 / wd)
        model.fit(x_fit, y_fit)
        iterations += int(model.n_iter_.max())
        acc = model.score(x_val, y_val)
        if acc > best[1]:
            best = (wd, acc)
    final = LogisticRegression(solver="lbfgs", max_iter=max_iter, tol=tol, C=1.0 / best[0]).fit(x_all, y_all)
    iterations += int(final.n_iter_.max())
    return {"seconds": time.perf_counter() - t0, "wd": best[0], "val": 100 * best[1],
            "test": 100 * final.score(x_test, y_test), "iterations": iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--grid", type=float, nargs=3, default=[-6.0, 5.0, 45])
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--also-matched-tolerance", action="store_true",
                        help="also run ours at scikit-learn's tolerance (1e-4) and scikit-learn at ours (1e-3), "
                             "to show how much of the gap is the stopping rule")
    args = parser.parse_args()

    train = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    test = build_dataset({"name": "fashion_mnist", "download": False}, "test")
    x_all = random_relu_features(train.images[: args.n], args.dim, 0)
    y_all = train.labels[: args.n]
    x_test, y_test = random_relu_features(test.images, args.dim, 0), test.labels
    mean, std = x_all.mean(0), x_all.std(0).clamp_min(1e-6)
    x_all, x_test = (x_all - mean) / std, (x_test - mean) / std
    order = torch.randperm(args.n, generator=torch.Generator().manual_seed(0))
    n_val = int(args.val_fraction * args.n)
    val, fit = order[:n_val], order[n_val:]
    grid = sorted(np.logspace(args.grid[0], args.grid[1], int(args.grid[2])).tolist(), reverse=True)
    data = (x_all[fit], y_all[fit], x_all[val], y_all[val], x_all, y_all, x_test, y_test)
    print(f"{args.n} x {args.dim} features, 10 classes, {len(grid)} weight decays, max_iter {args.max_iter}, "
          f"{torch.get_num_threads()} threads")
    ours, theirs = "ours (defaults)", "scikit-learn lbfgs (defaults)"
    results = {ours: sweep_ours(*data, grid, args.max_iter)}
    print(json.dumps(results), flush=True)
    if args.also_matched_tolerance:
        results["ours, tol 1e-4"] = sweep_ours(*data, grid, args.max_iter, tol=1e-4)
        print(json.dumps(results), flush=True)
    if not args.skip_sklearn:
        results[theirs] = sweep_sklearn(*(t.numpy() for t in data), grid, args.max_iter)
        if args.also_matched_tolerance:
            results["scikit-learn lbfgs, tol 1e-3"] = sweep_sklearn(*(t.numpy() for t in data), grid, args.max_iter,
                                                                    tol=1e-3)
    for name, r in results.items():
        steps = r.get("loss evaluations", r.get("iterations"))
        unit = "loss evaluations" if "loss evaluations" in r else "iterations"
        print(f"{name:32s} {r['seconds']:8.1f} s   wd {r['wd']:.3g}   val {r['val']:.2f}   test {r['test']:.2f}"
              f"   {steps} {unit}")
    if theirs in results:
        print(f"speed-up of ours over scikit-learn, both at defaults: "
              f"{results[theirs]['seconds'] / results[ours]['seconds']:.1f}x; test accuracy difference "
              f"{results[ours]['test'] - results[theirs]['test']:+.2f} points")


if __name__ == "__main__":
    main()
