"""Peeking, simulated: many seeded A/A experiments read after every batch of visitors.

With the same true rate in both arms, the always-valid sequential test must reject (at any look)
in at most alpha of the experiments, up to the sampling error of the simulation itself, while
the fixed-horizon z-test read the same way rejects far more often: that is what peeking breaks.
With a real effect the sequential test still finds it. Run with -s to see the rates.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from agents.campaigns.stats import confidence_sequence, z_test_p

ALPHA = 0.05

_sequential_p = np.frompyfunc(lambda x1, n, x0: confidence_sequence(x1, n, x0, n).p_value, 3, 1)
_fixed_p = np.frompyfunc(lambda x1, n, x0: z_test_p(x1, n, x0, n), 3, 1)


def _ever_rejects(
    seed: int, experiments: int, looks: int, batch: int, rate0: float, rate1: float
) -> tuple[float, float]:
    """The share of experiments that reject at some look: (sequential, fixed-horizon peeked).

    Each experiment exposes `batch` visitors per arm between looks; conversions are binomial
    per batch and accumulate, both arms of the same size at every look."""
    rng = np.random.default_rng(seed)
    control = rng.binomial(batch, rate0, size=(experiments, looks)).cumsum(axis=1)
    variant = rng.binomial(batch, rate1, size=(experiments, looks)).cumsum(axis=1)
    exposed = np.broadcast_to(batch * np.arange(1, looks + 1), (experiments, looks))
    sequential = _sequential_p(variant, exposed, control).astype(float)
    fixed = _fixed_p(variant, exposed, control).astype(float)
    return float((sequential < ALPHA).any(axis=1).mean()), float((fixed < ALPHA).any(axis=1).mean())


def _tolerance(experiments: int) -> float:
    """The largest false-positive share a test with a true rate of exactly alpha shows in 99.9 %
    of simulations of this size (the binomial quantile): above it, the test is not valid."""
    return float(sps.binom.ppf(0.999, experiments, ALPHA)) / experiments


@pytest.mark.parametrize(
    ("rate", "experiments", "looks", "batch"),
    [(0.05, 4000, 100, 100), (0.02, 4000, 50, 200)],
)
def test_peeking_at_an_aa_experiment(rate: float, experiments: int, looks: int, batch: int) -> None:
    sequential, fixed = _ever_rejects(20240611, experiments, looks, batch, rate, rate)
    limit = _tolerance(experiments)
    print(
        f"\nA/A at {rate:.0%}: {experiments} experiments, {looks} looks of {batch} visitors per "
        f"arm (up to {looks * batch} per arm): ever rejected at alpha {ALPHA} by the sequential "
        f"test {sequential:.2%}, by the fixed-horizon z-test read at every look {fixed:.2%} "
        f"(validity limit {limit:.2%})"
    )
    assert sequential <= limit
    assert fixed > limit
    assert fixed > 4 * ALPHA  # not a marginal excess: peeking multiplies false positives


def test_a_real_effect_is_found() -> None:
    """5 % against 6.5 %, up to 10,000 visitors per arm: the price of always-valid inference is
    width, not blindness."""
    sequential, fixed = _ever_rejects(20240612, 500, 100, 100, 0.05, 0.065)
    print(
        f"\npower, 5 % vs 6.5 %, 500 experiments: sequential {sequential:.1%}, "
        f"fixed-horizon z-test read at every look {fixed:.1%}"
    )
    assert sequential >= 0.8
