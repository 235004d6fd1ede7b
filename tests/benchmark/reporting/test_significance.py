"""The significance conventions of every leaderboard (benchmark/reporting/significance.py), against the formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from benchmark.reporting.significance import (best_and_ties, ci_half_width, comparison_text, noise_floor_text,
                                              welch_test)

T_975 = {1: 12.706204736174694, 2: 4.302652729749464, 4: 2.7764451051977934}  # Student's t tables


@pytest.mark.parametrize("values", [[82.4, 83.1, 81.9], [70.0, 72.0], [1.0, 2.0, 3.0, 4.0, 5.5]])
def test_ci_half_width_is_t_times_the_standard_error(values):
    n = len(values)
    s = math.sqrt(sum((v - sum(values) / n) ** 2 for v in values) / (n - 1))
    assert ci_half_width(values) == pytest.approx(T_975[n - 1] * s / math.sqrt(n), rel=1e-9)
    assert math.isnan(ci_half_width([80.0]))


def test_welch_test_matches_its_formula():
    a, b = [83.2, 84.1, 82.3, 83.9, 82.8], [82.4, 81.9, 83.0]
    ma, mb, va, vb = np.mean(a), np.mean(b), np.var(a, ddof=1), np.var(b, ddof=1)
    se2 = va / len(a) + vb / len(b)
    t = (ma - mb) / math.sqrt(se2)
    dof = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))  # Welch-Satterthwaite
    p = 2 * stats.t.sf(abs(t), dof)
    got_t, got_p = welch_test(a, b)
    assert got_t == pytest.approx(t, rel=1e-10) and got_p == pytest.approx(p, rel=1e-8)


def test_constant_rows_are_told_apart_by_their_values():
    assert welch_test([84.43] * 3, [84.43] * 3) == (0.0, 1.0)
    t, p = welch_test([84.43] * 3, [80.0] * 2)
    assert p == 0.0 and t == math.inf
    # one constant row (a deterministic anchor) against a spread one is an ordinary Welch test
    assert 0.0 < welch_test([84.43] * 3, [83.0, 84.0, 85.0])[1] < 1.0


def test_best_and_ties_marks_what_a_test_cannot_separate_and_ignores_single_seeds():
    groups = {"a": [90.0, 90.5, 89.5], "b": [89.0, 91.0, 89.9], "c": [70.0, 70.5, 69.5], "d": [99.0]}
    best, ties = best_and_ties(groups, higher_is_better=True)
    assert best == "a" and ties == {"a", "b"}  # d has the best value but one seed: untested
    best, ties = best_and_ties(groups, higher_is_better=False)  # an angular error: lower is better
    assert best == "c" and ties == {"c"}
    assert best_and_ties({"x": [1.0], "y": [2.0]}, True) == (None, set())


def test_the_sentences_name_their_numbers():
    line = comparison_text("ssl_sqsp", [83.07, 82.5, 84.07], "ssl_vicreg_real", [82.0, 82.5, 82.76])
    assert line.startswith("ssl_sqsp − ssl_vicreg_real = +0.79 (n = 3 and 3): Welch t = ")
    assert line.endswith("not significant at 0.05")
    assert "not testable" in comparison_text("a", [1.0], "b", [1.0, 2.0])
    assert noise_floor_text("linear_fmnist top1", [77.51 - 3.32, 77.51, 77.51 + 3.32]) == \
        "linear_fmnist top1: std 3.32 over 3 seeds"
    assert "not measured (1 seed" in noise_floor_text("fmnist_det AP50", [14.25])
