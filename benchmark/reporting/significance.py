"""How much to trust a leaderboard cell: its 95% confidence interval over seeds, which rows a test cannot tell
from the best one, and the task's noise floor (the random-init anchor's spread over seeds).

Conventions, stated once for every leaderboard:
- a cell of n >= 2 seeds shows ``mean ± h (n=k)``, h the half-width of the 95% confidence interval of the mean,
  Student's t with n - 1 degrees of freedom: h = t(0.975, n-1) * s / sqrt(n), s the sample std (ddof 1). With
  n = 2, t = 12.71, so two seeds give a wide interval: that is what two seeds know;
- the best row of a column is the one with the best mean among the rows of at least 2 seeds (a row of one seed
  has no spread to test with); a row is "not distinguishable from the best" when a two-sided Welch t-test
  (unequal variances) of its seeds against the best row's gives p >= 0.05. Rows of one seed are left untested.
  Several rows are compared with the best at once and no correction for multiple comparisons is made, so a
  mark is a hint about one comparison, not a ranking;
- the noise floor of a task is the random-init anchor's sample std over seeds: a gap between two methods smaller
  than it is within what the seed alone moves an untrained backbone's score.
"""
from __future__ import annotations

import math
import warnings
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
TEST_NAME = "two-sided Welch t-test over seeds, p ≥ 0.05"
CI_NOTE = ("± is the half-width of the 95% confidence interval of the mean over seeds (Student's t, n − 1 "
           "degrees of freedom), n the number of distinct seeds")


def ci_half_width(values: Sequence[float]) -> float:
    """The 95% confidence interval's half-width of the mean of ``values`` (nan for fewer than 2)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))


def welch_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p) of Welch's unequal-variance t-test of ``a`` against ``b`` (2+ values each). When both
    sets are constant the test is undefined: equal means give p = 1, different ones p = 0 (a deterministic
    anchor, such as raw pixels, repeats its value exactly)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    constant = 1e-9 * max(1.0, abs(a.mean()), abs(b.mean()))  # repeats of one value, up to rounding
    if a.std(ddof=1) <= constant and b.std(ddof=1) <= constant:
        same = math.isclose(a.mean(), b.mean(), rel_tol=0, abs_tol=constant)
        return (0.0, 1.0) if same else (math.copysign(math.inf, a.mean() - b.mean()), 0.0)
    with warnings.catch_warnings():  # scipy warns of rounding when one set repeats a value; the test stands
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def best_and_ties(groups: Mapping[str, Sequence[float]], higher_is_better: bool) -> tuple[Optional[str], set]:
    """The best row (best mean among rows of 2+ seeds) and the rows not distinguishable from it (itself
    included); (None, empty) when no row has 2 seeds."""
    tested = {k: np.asarray(v, dtype=float) for k, v in groups.items() if len(v) >= 2}
    if not tested:
        return None, set()
    sign = 1.0 if higher_is_better else -1.0
    best = max(tested, key=lambda k: sign * tested[k].mean())
    ties = {k for k, v in tested.items() if k == best or welch_test(v, tested[best])[1] >= ALPHA}
    return best, ties


def bold(text: str) -> str:
    return f"**{text}**"


def marks_note(what: str = "column") -> str:
    """The sentence under a table that explains the bold cells."""
    return (f"**Bold**: in each {what}, the best row (best mean among rows of at least 2 seeds) and every row a "
            f"{TEST_NAME}, cannot tell from it; a row of one seed is not tested. No correction for multiple "
            "comparisons: read a mark as one comparison with the best row, not as a ranking.")


def noise_floor(values: Iterable[float]) -> Optional[float]:
    """The random-init anchor's sample std over its seeds (None for fewer than 2)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def noise_floor_text(name: str, values: Iterable[float]) -> str:
    """'linear_fmnist top1: std 3.32 over 3 seeds' (or why there is none)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    floor = noise_floor(values)
    if floor is None:
        return f"{name}: not measured ({len(values)} seed{'s' if len(values) != 1 else ''} of the random-init anchor)"
    return f"{name}: std {floor:.2f} over {len(values)} seeds"


def comparison_text(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float]) -> str:
    """One sentence on whether the gap between two rows is significant (Welch, alpha 0.05)."""
    if len(a) < 2 or len(b) < 2:
        return f"{name_a} vs {name_b}: not testable (n = {len(a)} and {len(b)}; 2 seeds each are needed)"
    t, p = welch_test(a, b)
    gap = float(np.mean(a) - np.mean(b))
    verdict = "significant" if p < ALPHA else "not significant"
    return (f"{name_a} − {name_b} = {gap:+.2f} (n = {len(a)} and {len(b)}): Welch t = {t:.2f}, p = {p:.3f}, "
            f"{verdict} at {ALPHA}")
