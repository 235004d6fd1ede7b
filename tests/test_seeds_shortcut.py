"""``seeds=N`` on the command line (launch.py ``expand_seeds``): a row run over seeds 0..N-1 with one option,
reusing the records that exist (skip_existing), so ``seeds=3`` then ``seeds=5`` runs only seeds 3 and 4."""
from __future__ import annotations

import pytest

from benchmark.errors import UserError
from launch import expand_seeds


def test_seeds_becomes_a_sweep_that_reuses_what_exists():
    assert expand_seeds(["launch.py", "row=ssl_sqsp", "seeds=3"]) == \
        ["launch.py", "-m", "row=ssl_sqsp", "seed=0,1,2", "skip_existing=true"]
    # already a sweep, and an explicit skip_existing, are kept as given
    assert expand_seeds(["launch.py", "-m", "method=sqsp,vicreg", "seeds=2", "skip_existing=false"]) == \
        ["launch.py", "-m", "method=sqsp,vicreg", "skip_existing=false", "seed=0,1"]
    assert expand_seeds(["launch.py", "method=sqsp"]) == ["launch.py", "method=sqsp"]  # nothing to expand


@pytest.mark.parametrize("args,message", [
    (["seeds=0"], "seeds: '0' is not valid; must be an integer >= 1"),
    (["seeds=three"], "seeds: 'three' is not valid"),
    (["seeds=3", "seed=7"], "seeds= and seed= cannot both be given"),
])
def test_a_bad_seeds_value_is_named(args, message):
    with pytest.raises(UserError, match=message):
        expand_seeds(["launch.py", *args])
