"""The linear protocol: metrics on hand cases, the L-BFGS objective against its formula, fits and the
whole sweep against scikit-learn."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tasks.linear.protocol import Split, holdout, linear_protocol, weight_decay_grid
from tasks.linear.logistic import decision_scores, fit_logistic, logistic_objective
from tasks.linear.metrics import mean_per_class_accuracy, top1, voc07_average_precision, voc07_mean_average_precision


# ----------------------------------------------------------------------------------------- metrics
def test_voc07_ap_hand_case():
    # ranking: +, -, +, -, -  -> (recall, precision) = (.5, 1), (.5, .5), (1, 2/3), (1, .5), (1, .4)
    # recall thresholds 0, .1, ..., .5 reach precision 1; .6, ..., 1 reach at most 2/3
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    positive = torch.tensor([1, 0, 1, 0, 0])
    assert voc07_average_precision(scores, positive) == pytest.approx(100 * (6 * 1 + 5 * 2 / 3) / 11)
    # the second item marked difficult leaves the ranking: +, +, -, - -> AP 1
    difficult = torch.tensor([0, 1, 0, 0, 0])
    assert voc07_average_precision(scores, positive, difficult) == pytest.approx(100.0)
    # a positive ranked last: +, -, -, -, + -> precision 1 up to recall .5, then 2/5
    assert voc07_average_precision(scores, torch.tensor([1, 0, 0, 0, 1])) == pytest.approx(100 * (6 + 5 * 0.4) / 11)


def _devkit_ap(scores, gt):
    """VOC devkit VOCevalcls: sort descending, cumulative tp/fp, 11-point max precision at recall >= t
    (recall >= k/10 compared in integers, so 3/10 counts as reaching 0.3)."""
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(gt[order] > 0)
    fp = np.cumsum(gt[order] < 0)
    prec = tp / (fp + tp)
    ap = 0.0
    for k in range(11):
        reached = 10 * tp >= k * np.sum(gt > 0)
        ap += (prec[reached].max() if np.any(reached) else 0.0) / 11
    return 100 * ap


def test_voc07_map_matches_devkit_loop_on_random_cases():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 4))
    flags = rng.choice([1, -1, 0], size=(200, 4), p=[0.3, 0.6, 0.1])  # VOC's 1 / -1 / 0 (difficult)
    targets, difficult = torch.tensor(flags == 1).float(), torch.tensor(flags == 0)
    ours = voc07_mean_average_precision(torch.tensor(scores), targets, difficult)
    reference = np.mean([_devkit_ap(scores[flags[:, k] != 0, k], flags[flags[:, k] != 0, k]) for k in range(4)])
    assert ours == pytest.approx(reference, abs=1e-9)


def test_voc07_ap_refuses_a_class_without_positives():
    with pytest.raises(ValueError, match="no positive"):
        voc07_average_precision(torch.rand(4), torch.zeros(4))


def test_mean_per_class_accuracy_weights_classes_equally():
    labels = torch.tensor([0, 0, 0, 0, 1])
    scores = F.one_hot(torch.tensor([0, 0, 0, 0, 0]), 2).float()  # everything predicted as class 0
    assert top1(scores, labels) == pytest.approx(80.0)
    assert mean_per_class_accuracy(scores, labels) == pytest.approx(50.0)  # (100 + 0) / 2


# ------------------------------------------------------------------------------------- objective
@pytest.mark.parametrize("multilabel", [False, True])
def test_objective_and_gradient_match_the_formula(multilabel):
    g = torch.Generator().manual_seed(0)
    n, d, k = 500, 7, 4
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(k, d, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(k, generator=g, dtype=torch.float64, requires_grad=True)
    if multilabel:
        y = (torch.rand(n, k, generator=g) < 0.3).double()
        wd = torch.tensor([0.1, 1.0, 10.0, 100.0], dtype=torch.float64)
        reference = sum(-(y[i, c] * torch.log(torch.sigmoid(x[i] @ w[c] + b[c]))
                          + (1 - y[i, c]) * torch.log(1 - torch.sigmoid(x[i] @ w[c] + b[c])))
                        for i in range(n) for c in range(k)) / n
        reference = reference + sum(wd[c] / (2 * n) * (w[c] ** 2).sum() for c in range(k))
    else:
        y = torch.randint(0, k, (n,), generator=g)
        wd = 3.0
        logits = x @ w.T + b
        reference = -sum(logits[i, y[i]] - torch.logsumexp(logits[i], 0) for i in range(n)) / n
        reference = reference + wd / (2 * n) * (w ** 2).sum()
    grad_w, grad_b = torch.autograd.grad(reference, (w, b))
    loss, (ours_w, ours_b) = logistic_objective(x, y, w.detach(), b.detach(), wd, chunk_rows=128)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-10)
    torch.testing.assert_close(ours_w, grad_w, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours_b, grad_b, rtol=1e-9, atol=1e-12)


def _blobs(n, d, k, seed, scale=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * scale
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float64), y


def test_multinomial_fit_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(400, 6, 3, 0)
    for wd in (0.1, 10.0):
        ref = LogisticRegression(C=1 / wd, tol=1e-10, max_iter=10000).fit(x, y)
        w, b = fit_logistic(torch.tensor(x), torch.tensor(y), 3, wd, max_iter=1000, tolerance_grad=1e-10,
                             tolerance_change=1e-15)
        # softmax is invariant to a shift shared by every class; sklearn's bias is unpenalised too,
        # so compare centred parameters
        np.testing.assert_allclose((w - w.mean(0)).numpy(), ref.coef_ - ref.coef_.mean(0), atol=1e-4)
        np.testing.assert_allclose((b - b.mean()).numpy(), ref.intercept_ - ref.intercept_.mean(), atol=1e-4)


def test_per_class_binary_fits_match_sklearn_with_a_decay_per_class():
    from sklearn.linear_model import LogisticRegression

    x, labels = _blobs(300, 5, 3, 1)
    y = np.stack([labels == c for c in range(3)], 1).astype(np.float64)
    y[::7, 2] = 1  # make the classes overlap: multi-label
    wd = torch.tensor([0.5, 5.0, 50.0], dtype=torch.float64)
    w, b = fit_logistic(torch.tensor(x), torch.tensor(y), 3, wd, max_iter=1000, tolerance_grad=1e-10,
                             tolerance_change=1e-15)
    for c in range(3):
        ref = LogisticRegression(C=1 / wd[c].item(), tol=1e-10, max_iter=10000).fit(x, y[:, c])
        np.testing.assert_allclose(w[c].numpy(), ref.coef_[0], atol=1e-4)
        np.testing.assert_allclose(b[c].item(), ref.intercept_[0], atol=1e-4)


# ---------------------------------------------------------------------------------------- protocol
def test_holdout_is_a_seeded_disjoint_partition():
    train = Split(torch.arange(50.0)[:, None], torch.arange(50) % 3)
    fit, val = holdout(train, 0.2, seed=3)
    assert len(val.targets) == 10 and len(fit.targets) == 40
    ids = torch.cat([fit.features[:, 0], val.features[:, 0]]).long()
    assert sorted(ids.tolist()) == list(range(50))
    fit2, val2 = holdout(train, 0.2, seed=3)
    assert torch.equal(val.features, val2.features)
    assert not torch.equal(holdout(train, 0.2, seed=4)[1].features, val.features)


def _standardise(fit, *others):
    mean, std = fit.mean(0), fit.std(0, ddof=1)
    return [(a - mean) / std for a in (fit, *others)]


def test_protocol_matches_a_sklearn_sweep():
    """Sweep, select on validation, refit on train + val, test: the same choices as scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(600, 8, 4, 2, scale=0.6)
    xf, yf, xv, yv, xt, yt = x[:300], y[:300], x[300:400], y[300:400], x[400:], y[400:]
    spec = [-2, 4, 7]
    grid = weight_decay_grid(spec)
    assert grid == sorted(np.logspace(-2, 4, 7).tolist(), reverse=True)

    sf, sv = _standardise(xf, xv)
    val_acc = [LogisticRegression(C=1 / wd, tol=1e-10, max_iter=10000).fit(sf, yf).score(sv, yv) for wd in grid]
    chosen = grid[int(np.argmax(val_acc))]
    sa, st = _standardise(np.concatenate([xf, xv]), xt)
    test_acc = LogisticRegression(C=1 / chosen, tol=1e-10, max_iter=10000).fit(
        sa, np.concatenate([yf, yv])).score(st, yt)

    split = lambda a, b: Split(torch.tensor(a, dtype=torch.float64), torch.tensor(b))  # noqa: E731
    out = linear_protocol(split(xf, yf), split(xv, yv), split(xt, yt), "top1", spec, max_iter=1000,
                          tolerance_grad=1e-10)
    assert out["weight_decay"] == pytest.approx(chosen)
    assert out["val_top1"] == pytest.approx(100 * max(val_acc))
    assert out["top1"] == pytest.approx(100 * test_acc)
    assert out["feature_dim"] == 8 and out["train_samples"] == 400 and out["test_samples"] == 200


def test_protocol_per_class_decays_for_multilabel():
    x, labels = _blobs(500, 6, 3, 4, scale=0.8)
    y = torch.tensor(np.stack([labels == c for c in range(3)], 1)).float()
    difficult = torch.zeros_like(y, dtype=torch.bool)
    difficult[::11, 0] = True
    to = lambda s: Split(torch.tensor(x[s], dtype=torch.float32), y[s], difficult[s])  # noqa: E731
    fit, val, test = to(slice(0, 250)), to(slice(250, 350)), to(slice(350, 500))
    out = linear_protocol(fit, val, test, "voc07_map", [-2, 4, 7])
    assert 50 < out["voc07_map"] <= 100
    scores = decision_scores(fit.features, fit_logistic(fit.features, fit.targets, 3, 1.0))
    assert scores.shape == (250, 3)
    with pytest.raises(ValueError, match="does not fit"):
        linear_protocol(fit, val, test, "top1", [-2, 4, 7])


def test_protocol_rejects_unknown_metric():
    s = Split(torch.randn(20, 3), torch.arange(20) % 2)
    with pytest.raises(ValueError, match="valid metrics: top1, mean_per_class, voc07_map"):
        linear_protocol(s, s, s, "top5", [-1, 1, 3])


# ------------------------------------------------------------------------------------------ L-BFGS
def test_lbfgs_memory_stays_exact_when_the_penalty_changes():
    """On a quadratic every stored pair satisfies y = A s; after the objective gains 1/2 x^T diag(delta) x,
    the corrected pairs satisfy the new secant equation y = (A + diag(delta)) s."""
    from tasks.linear.lbfgs import LBFGS

    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    solver = LBFGS(history=4)
    x = solver.minimize(lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b), torch.zeros(6, dtype=torch.float64),
                        max_iter=200, tolerance_grad=1e-12, tolerance_change=0)
    torch.testing.assert_close(x, torch.linalg.solve(a, b))
    assert solver.pairs
    for s, y in solver.pairs:
        torch.testing.assert_close(y, a @ s)
    delta = torch.rand(6, generator=g, dtype=torch.float64)
    solver.shift_penalty(delta)
    for s, y in solver.pairs:
        torch.testing.assert_close(y, (a + torch.diag(delta)) @ s)
    shifted = a + torch.diag(delta)
    x2 = solver.minimize(lambda x: (0.5 * x @ shifted @ x - b @ x, shifted @ x - b), x, max_iter=200,
                         tolerance_grad=1e-12, tolerance_change=0)
    torch.testing.assert_close(x2, torch.linalg.solve(shifted, b))


def test_warm_path_reaches_the_cold_solution():
    from tasks.linear.logistic import LogisticPath

    x, y = _blobs(300, 5, 3, 5)
    x, y = torch.tensor(x), torch.tensor(y)
    path = LogisticPath(x, y, 3, max_iter=500, tolerance_grad=1e-9, tolerance_change=0)
    for wd in (100.0, 10.0, 1.0):
        warm = path.fit(wd)
    cold = fit_logistic(x, y, 3, 1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=0)
    torch.testing.assert_close(warm[0], cold[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(warm[1], cold[1], atol=1e-6, rtol=0)
