"""The experiment statistics against independent references.

References are scipy's own implementations and published worked examples (Newcombe 1998;
GrowthBook's test suite for the confidence sequence), never the module against itself.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.stats.contingency import relative_risk

from agents.campaigns.stats import (
    ArmCounts,
    Interval,
    analyse,
    benjamini_hochberg,
    confidence_sequence,
    difference_interval,
    relative_interval,
    srm,
    wilson,
    z_test_p,
)

Z95 = float(sps.norm.isf(0.025))
COUNTS = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (1, 37), (81, 263), (499, 1000)]
COUNTS += [(1, 100_000), (12_345, 100_000), (99_999, 100_000)]


# ------------------------------------------------------------------------------ Wilson


@pytest.mark.parametrize(("x", "n"), COUNTS)
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_scipy(x: int, n: int, confidence: float) -> None:
    ref = sps.binomtest(x, n).proportion_ci(confidence_level=confidence, method="wilson")
    got = wilson(x, n, confidence)
    assert got.lo == pytest.approx(ref.low, abs=1e-12)
    assert got.hi == pytest.approx(ref.high, abs=1e-12)


def test_wilson_published_example() -> None:
    """Newcombe (1998), "Two-sided confidence intervals for the single proportion", 81/263 by
    the score method: 0.2553 to 0.3662."""
    got = wilson(81, 263)
    assert (round(got.lo, 4), round(got.hi, 4)) == (0.2553, 0.3662)


def test_wilson_edges() -> None:
    assert wilson(0, 0) == Interval(0.0, 1.0)  # nothing seen: nothing known
    assert wilson(0, 50).lo == 0.0 and 0 < wilson(0, 50).hi < 0.08
    assert wilson(50, 50).hi == 1.0 and 0.92 < wilson(50, 50).lo < 1
    for bad in [(-1, 10), (11, 10), (0, -1)]:
        with pytest.raises(ValueError):
            wilson(*bad)
    with pytest.raises(ValueError):
        wilson(1, 10, confidence=1.0)


# ------------------------------------------------------------------------------ difference


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0", "lo", "hi"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (84, 101, 89, 105, -0.1177, 0.0851),
    ],
)
def test_newcombe_published_examples(
    x1: int, n1: int, x0: int, n0: int, lo: float, hi: float
) -> None:
    """Method 10 (hybrid score) in Newcombe (1998), "Interval estimation for the difference
    between independent proportions: comparison of eleven methods", Table II, as reproduced by
    the WUSS 2016 paper on the same methods and by DescTools' BinomDiffCI tests."""
    got = difference_interval(x1, n1, x0, n0)
    assert (round(got.lo, 4), round(got.hi, 4)) == (lo, hi)


@pytest.mark.parametrize(("x1", "n1"), COUNTS[::2])
@pytest.mark.parametrize(("x0", "n0"), COUNTS[1::2])
def test_newcombe_is_square_and_add_of_scipy_wilson(x1: int, n1: int, x0: int, n0: int) -> None:
    """Newcombe's definition, with the Wilson limits taken from scipy."""
    w1 = sps.binomtest(x1, n1).proportion_ci(method="wilson")
    w0 = sps.binomtest(x0, n0).proportion_ci(method="wilson")
    p1, p0 = x1 / n1, x0 / n0
    lo = p1 - p0 - math.hypot(p1 - w1.low, w0.high - p0)
    hi = p1 - p0 + math.hypot(w1.high - p1, p0 - w0.low)
    got = difference_interval(x1, n1, x0, n0)
    assert got.lo == pytest.approx(lo, abs=1e-12)
    assert got.hi == pytest.approx(hi, abs=1e-12)
    swapped = difference_interval(x0, n0, x1, n1)
    assert (swapped.lo, swapped.hi) == pytest.approx((-got.hi, -got.lo), abs=1e-12)


def test_difference_without_exposure_knows_nothing() -> None:
    assert difference_interval(0, 0, 5, 10) == Interval(-1.0, 1.0)


# ------------------------------------------------------------------------------ relative


def test_relative_interval_worked_example() -> None:
    """27 of 122 against 44 of 487, the worked example of scipy's relative_risk documentation:
    risk ratio 2.4495, 95 % interval 1.5837 to 3.7887; by hand, exp(ln RR +/- z se) with
    se = sqrt(1/27 - 1/122 + 1/44 - 1/487)."""
    ratio = (27 / 122) / (44 / 487)
    se = math.sqrt(1 / 27 - 1 / 122 + 1 / 44 - 1 / 487)
    got = relative_interval(27, 122, 44, 487)
    assert got is not None
    assert got.lo == pytest.approx(ratio * math.exp(-Z95 * se) - 1, abs=1e-12)
    assert got.hi == pytest.approx(ratio * math.exp(Z95 * se) - 1, abs=1e-12)
    assert (round(got.lo + 1, 4), round(got.hi + 1, 4)) == (1.5837, 3.7887)


@pytest.mark.parametrize(("x1", "n1"), [(1, 10), (27, 122), (600, 5000), (99_999, 100_000)])
@pytest.mark.parametrize(("x0", "n0"), [(3, 10), (44, 487), (480, 5000), (50, 100_000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_relative_interval_matches_scipy(
    x1: int, n1: int, x0: int, n0: int, confidence: float
) -> None:
    ref = relative_risk(x1, n1, x0, n0).confidence_interval(confidence_level=confidence)
    got = relative_interval(x1, n1, x0, n0, confidence)
    assert got is not None
    assert got.lo == pytest.approx(ref.low - 1, rel=1e-10, abs=1e-12)
    assert got.hi == pytest.approx(ref.high - 1, rel=1e-10, abs=1e-12)


def test_relative_interval_is_undefined_on_a_zero_count() -> None:
    for counts in [(0, 10, 3, 10), (3, 10, 0, 10), (0, 0, 3, 10), (3, 10, 0, 0)]:
        assert relative_interval(*counts) is None


# ------------------------------------------------------------------------------ z-test


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0"),
    [
        (56, 70, 48, 80),
        (1, 10, 0, 10),
        (1300, 10_000, 1000, 10_000),
        (5, 500, 6, 600),
        (500_100, 1_000_000, 499_000, 1_000_000),
        (30, 31, 1, 29),
    ],
)
def test_z_test_matches_scipy_chi_square(x1: int, n1: int, x0: int, n0: int) -> None:
    """The pooled z-test is the uncorrected Pearson chi-square of the 2x2 table."""
    table = [[x1, n1 - x1], [x0, n0 - x0]]
    ref = sps.chi2_contingency(table, correction=False).pvalue
    assert z_test_p(x1, n1, x0, n0) == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_z_test_edges() -> None:
    assert z_test_p(0, 0, 1, 10) == 1.0
    assert z_test_p(0, 10, 0, 10) == 1.0  # no variation at all
    assert z_test_p(10, 10, 10, 10) == 1.0
    assert z_test_p(5, 10, 5, 10) == 1.0


# ------------------------------------------------------------------------------ SRM


def _chisquare(observed: list[int], weights: list[float]) -> tuple[float, float]:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    ref = sps.chisquare(observed, f_exp=expected)
    return float(ref.statistic), float(ref.pvalue)


SRM_CASES: list[tuple[list[int], list[float]]] = [
    ([5100, 4900], [0.5, 0.5]),
    ([5000, 5000], [0.5, 0.5]),
    ([1, 0], [0.5, 0.5]),
    ([3, 9, 0], [1, 1, 1]),
    ([1000, 4600, 4400], [0.1, 0.45, 0.45]),
    ([1100, 4500, 4400], [0.1, 0.45, 0.45]),
    ([500_123_456, 499_876_544], [0.5, 0.5]),
    ([50_000_000, 50_010_000], [1, 1]),
    ([1_000_000, 1_003_000], [1, 1]),
    ([10_000, 12_000], [1, 1]),  # p far below the smallest normal double
    ([7, 1, 1, 1, 1, 1, 1, 1], [1] * 8),
]


def _generated_cases() -> list[tuple[list[int], list[float]]]:
    """Many categories and a spread of p-values: slightly skewed multinomials, seeded."""
    rng = np.random.default_rng(19)
    cases = []
    for k in (3, 5, 12, 40, 120):
        weights = rng.uniform(0.2, 1.0, size=k)
        for total, skew in ((200, 0.0), (20_000, 0.01), (2_000_000, 0.002), (30_000, 0.05)):
            shares = weights * rng.uniform(1 - skew, 1 + skew, size=k)
            observed = rng.multinomial(total, shares / shares.sum())
            cases.append(([int(o) for o in observed], [float(w) for w in weights]))
    return cases


@pytest.mark.parametrize(("observed", "weights"), SRM_CASES + _generated_cases())
def test_srm_matches_scipy_chisquare(observed: list[int], weights: list[float]) -> None:
    chi2, p = _chisquare(observed, weights)
    got = srm(observed, weights)
    assert got.dof == len(observed) - 1
    assert got.chi2 == pytest.approx(chi2, rel=1e-9, abs=1e-9)
    assert got.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert got.warn == (p < 0.01) and got.flag == (p < 0.001)


def test_srm_textbook_value() -> None:
    """5100 against 4900 on a 50/50 split: chi-square 4 on 1 degree of freedom, p = 0.0455."""
    got = srm([5100, 4900], [1, 1])
    assert got.chi2 == 4.0 and round(got.p_value, 4) == 0.0455


def test_srm_edges() -> None:
    assert srm([0, 0, 0], [0.1, 0.45, 0.45]).p_value == 1.0  # nothing exposed yet
    assert not srm([0, 0], [1, 1]).warn
    assert srm([12], [1]).p_value == 1.0  # one arm: nothing to compare
    paused = srm([500, 480, 3], [0.5, 0.5, 0.0])  # exposures in an arm of weight 0
    assert paused.flag and paused.p_value == 0.0 and paused.dof == 1
    idle = srm([500, 480, 0], [0.5, 0.5, 0.0])  # an arm of weight 0, rightly empty
    assert idle.p_value == pytest.approx(_chisquare([500, 480], [1, 1])[1], rel=1e-9)
    for bad in [([1, 2], [1]), ([], []), ([-1, 2], [1, 1]), ([1, 2], [-1, 1]), ([1, 2], [0, 0])]:
        with pytest.raises(ValueError):
            srm(*bad)


# ------------------------------------------------------------------------------ BH


@pytest.mark.parametrize("size", [1, 2, 5, 17, 100])
def test_benjamini_hochberg_matches_scipy(size: int) -> None:
    rng = np.random.default_rng(size)
    p = np.concatenate([rng.uniform(0, 0.05, size // 2), rng.uniform(0, 1, size - size // 2)])
    p[: size // 4] = p[0]  # ties
    got = benjamini_hochberg(p.tolist())
    assert got == pytest.approx(sps.false_discovery_control(p, method="bh").tolist(), abs=1e-15)
    ordered = [got[i] for i in np.argsort(p, kind="stable")]
    assert ordered == sorted(ordered) and max(got) <= 1.0  # monotone, capped


def test_benjamini_hochberg_edges() -> None:
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.9, 0.95, 1.0]) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        benjamini_hochberg([0.5, 1.5])


# ------------------------------------------------------------------------------ sequence


def _rho2(alpha: float, n_star: float) -> float:
    """GrowthBook's documented tuning: rho = sqrt((-2 log a + log(-2 log a + 1)) / N*)."""
    return (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star


def _halfwidth(se: float, n: int, alpha: float, rho2: float) -> float:
    """GrowthBook's documented sequence, as written in its docs:
    se * sqrt(N) * sqrt(2 (N rho^2 + 1) / (N^2 rho^2) * log(sqrt(N rho^2 + 1) / alpha))."""
    return (
        se
        * math.sqrt(n)
        * math.sqrt(2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    )


def _se(x1: int, n1: int, x0: int, n0: int) -> float:
    p1, p0 = x1 / n1, x0 / n0
    return math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)


@pytest.mark.parametrize(
    ("n_star", "ci", "se"),
    [(5000, (0.40098, 0.60675), 0.03386), (1000, (-0.55844, 1.56516), 0.33341)],
)
def test_sequence_width_matches_growthbook_published_results(
    n_star: float, ci: tuple[float, float], se: float
) -> None:
    """GrowthBook's own tests (gbstats, test_sequential_test_runs_prop and
    test_sequential_test_runs) publish sequences for 3000 control and 3461 treatment users:
    half their width over their standard error is the sequence's multiplier, which depends on
    N, N* and alpha alone. Ours, for our own difference on the same group sizes, must match."""
    published = (ci[1] - ci[0]) / 2 / se
    x1, n1, x0, n0 = 2422, 3461, 1396, 3000
    got = confidence_sequence(x1, n1, x0, n0, n_star=n_star)
    ours = (got.interval.hi - got.interval.lo) / 2 / _se(x1, n1, x0, n0)
    assert ours == pytest.approx(published, rel=3e-4)


CS_CASES = [(2422, 3461, 1396, 3000), (130, 1000, 100, 1000), (1010, 10_000, 1000, 10_000)]
CS_CASES += [(52, 1000, 50, 1100), (60, 500, 30, 480), (5, 200, 1, 200)]
CS_CASES += [(5020, 50_000, 4700, 50_000)]


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), CS_CASES)
@pytest.mark.parametrize(("alpha", "n_star"), [(0.05, 5000), (0.1, 2000), (0.01, 50_000)])
def test_sequence_matches_the_documented_formula(
    x1: int, n1: int, x0: int, n0: int, alpha: float, n_star: float
) -> None:
    got = confidence_sequence(x1, n1, x0, n0, alpha, n_star)
    d = x1 / n1 - x0 / n0
    half = _halfwidth(_se(x1, n1, x0, n0), n1 + n0, alpha, _rho2(alpha, n_star))
    assert got.estimate == pytest.approx(d, abs=1e-15)
    assert got.interval.lo == pytest.approx(max(-1, d - half), abs=1e-12)
    assert got.interval.hi == pytest.approx(min(1, d + half), abs=1e-12)
    # the p-value and the sequence agree: p < alpha exactly when 0 is outside
    assert (got.p_value < alpha) == got.interval.excludes(0.0)
    # and p is the level at which the sequence (rho kept) just reaches 0
    if 1e-300 < got.p_value < 1:
        edge = _halfwidth(_se(x1, n1, x0, n0), n1 + n0, got.p_value, _rho2(alpha, n_star))
        assert edge == pytest.approx(abs(d), rel=1e-9)


def test_sequence_is_wider_than_a_fixed_interval_and_tightest_near_n_star() -> None:
    """The cost of peeking safely is width, least at the N* it was tuned for (GrowthBook's
    tuning figure): the ratio to the fixed-horizon z interval is above 1 everywhere and lowest
    near N* total exposures."""
    for n_star in (2000, 5000, 20_000):
        ratios = {}
        for per_arm in range(100, 40_001, 100):
            x = per_arm // 10
            half = confidence_sequence(x, per_arm, x, per_arm, n_star=n_star).interval.hi
            ratios[2 * per_arm] = half / (Z95 * _se(x, per_arm, x, per_arm))
        best = min(ratios, key=ratios.__getitem__)
        assert min(ratios.values()) > 1.2
        assert abs(best - n_star) <= 0.1 * n_star


def test_sequence_edges() -> None:
    assert confidence_sequence(0, 0, 5, 10) == confidence_sequence(5, 10, 0, 0)
    nothing = confidence_sequence(0, 0, 5, 10)
    assert nothing.p_value == 1.0 and nothing.interval == Interval(-1.0, 1.0)
    flat = confidence_sequence(0, 500, 0, 500)
    assert flat.estimate == 0.0 and flat.p_value == 1.0
    huge = confidence_sequence(900_000, 1_000_000, 100_000, 1_000_000)
    assert huge.p_value == 0.0 and huge.interval.lo > 0.79
    for bad in [{"alpha": 0.0}, {"alpha": 1.0}, {"n_star": 0.0}]:
        with pytest.raises(ValueError):
            confidence_sequence(1, 10, 1, 10, **bad)


# ------------------------------------------------------------------------------ analyse


def _arms(*counts: tuple[str, float, int, int]) -> list[ArmCounts]:
    return [ArmCounts(key, w, n, {"chat": x}) for key, w, n, x in counts]


def test_a_clear_winner() -> None:
    result = analyse(
        _arms(("holdout", 0.5, 10_000, 1000), ("B", 0.5, 10_000, 1300)),
        control="holdout",
        primary="chat",
    )
    lift = result.lift[0]
    assert result.verdict.code == "better" and result.verdict.arm == "B"
    assert lift.significant and lift.absolute == pytest.approx(0.03)
    lo, hi = lift.sequential_ci.lo * 100, lift.sequential_ci.hi * 100
    assert result.verdict.text == (
        f"B is better than holdout: +3.0 points (95 % always-valid interval +{lo:.1f} to "
        f"+{hi:.1f})."
    )
    assert result.verdict.warn is None
    assert result.method["sequential"].endswith("N* = 5000, alpha = 0.05")


def test_a_clear_loser() -> None:
    result = analyse(
        _arms(("A", 0.5, 10_000, 1300), ("B", 0.5, 10_000, 1000), ("C", 0.0, 0, 0)),
        control="A",
        primary="chat",
        min_exposures=0,
        min_conversions=0,
    )
    assert result.verdict.code == "worse" and result.verdict.arm == "B"
    assert result.verdict.text.startswith("B is worse than A: -3.0 points")


def test_no_difference() -> None:
    result = analyse(
        _arms(("holdout", 0.5, 10_000, 1000), ("B", 0.5, 10_000, 1020)),
        control="holdout",
        primary="chat",
    )
    assert result.verdict.code == "no_difference" and result.verdict.arm is None
    assert result.verdict.text == "No difference detected yet — this does not mean no effect."


def test_a_sample_ratio_mismatch_comes_first() -> None:
    result = analyse(
        _arms(("holdout", 0.5, 10_000, 1000), ("B", 0.5, 11_000, 2000)),
        control="holdout",
        primary="chat",
    )
    assert result.srm.flag and result.lift[0].significant
    assert result.verdict.code == "sample_ratio" and result.verdict.arm is None
    assert result.verdict.text.startswith(
        "Data problem: the arms' exposures do not match their weights (sample ratio mismatch, "
        "p < 0.0001); fix the setup"
    )


def test_a_slight_mismatch_warns_without_blocking() -> None:
    result = analyse(
        _arms(("holdout", 0.5, 10_200, 1000), ("B", 0.5, 9_800, 1300)),
        control="holdout",
        primary="chat",
    )
    assert result.srm.warn and not result.srm.flag
    assert result.verdict.code == "better"
    assert result.verdict.warn is not None and "p = 0.005" in result.verdict.warn


@pytest.mark.parametrize(("exposed", "converted"), [(99, 50), (1000, 24)])
def test_not_enough_data(exposed: int, converted: int) -> None:
    result = analyse(
        _arms(("holdout", 1000, 1000, 100), ("B", exposed, exposed, converted)),
        control="holdout",
        primary="chat",
    )
    assert result.verdict.code == "not_enough_data"
    assert result.verdict.text == (
        "Not enough data yet: each arm needs 100 exposed visitors and 25 conversions."
    )
    assert not any(lift.significant for lift in result.lift)


def test_many_arms_and_metrics_are_adjusted_together() -> None:
    arms = [
        ArmCounts("holdout", 0.1, 1000, {"chat": 100, "lead": 30}),
        ArmCounts("A", 0.45, 4500, {"chat": 500, "lead": 180}),
        ArmCounts("B", 0.45, 4500, {"chat": 600, "lead": 140, "sale": 9}),
    ]
    result = analyse(arms, control="holdout", primary="chat")
    assert [(lift.arm, lift.metric) for lift in result.lift] == [
        ("A", "chat"), ("A", "lead"), ("A", "sale"), ("B", "chat"), ("B", "lead"), ("B", "sale"),
    ]  # fmt: skip
    raw = [lift.p_value for lift in result.lift]
    ref = sps.false_discovery_control(raw, method="bh")
    assert [lift.p_adjusted for lift in result.lift] == pytest.approx(ref.tolist(), abs=1e-15)
    for lift in result.lift:
        assert lift.significant == (lift.p_adjusted < 0.05)
    assert result.arms[0].metrics["sale"].converted == 0
    assert result.arms[0].metrics["sale"].ci.lo == 0.0
    assert result.verdict.code in {"better", "no_difference"}
    only = analyse(arms, control="holdout", primary="lead", metrics=["chat"])
    assert [lift.metric for lift in only.lift] == ["lead", "chat", "lead", "chat"]


def test_the_gate_uses_primary_conversions() -> None:
    """A strong secondary result does not count while the primary has too few conversions."""
    arms = [
        ArmCounts("holdout", 0.5, 5000, {"chat": 20, "lead": 100}),
        ArmCounts("B", 0.5, 5000, {"chat": 24, "lead": 400}),
    ]
    result = analyse(arms, control="holdout", primary="chat")
    lead = next(lift for lift in result.lift if lift.metric == "lead")
    assert lead.p_adjusted < 1e-10 and not lead.significant
    assert result.verdict.code == "not_enough_data"


def test_as_dict_is_plain_json_even_without_data() -> None:
    arms = [ArmCounts("holdout", 0.5, 0, {}), ArmCounts("B", 0.5, 0, {})]
    result = analyse(arms, control="holdout", primary="chat")
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert data["verdict"] == {
        "code": "not_enough_data",
        "arm": None,
        "text": "Not enough data yet: each arm needs 100 exposed visitors and 25 conversions.",
        "warn": None,
    }
    assert data["arms"][0] == {
        "key": "holdout",
        "exposed": 0,
        "converted": 0,
        "rate": None,
        "ci": [0.0, 1.0],
        "metrics": {"chat": {"converted": 0, "rate": None, "ci": [0.0, 1.0]}},
    }
    lift = data["lift"][0]
    assert lift["absolute"] is None and lift["relative"] is None and lift["relative_ci"] is None
    assert lift["p_value"] == 1.0 and lift["significant"] is False
    assert data["srm"] == {"chi2": 0.0, "dof": 1, "p_value": 1.0, "warn": False, "flag": False}


def test_as_dict_rounds() -> None:
    result = analyse(
        _arms(("holdout", 0.5, 10_000, 1000), ("B", 0.5, 10_000, 1300)),
        control="holdout",
        primary="chat",
    )
    data = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    lift = data["lift"][0]
    assert lift["absolute"] == 0.03 and lift["relative"] == 0.3
    assert all(len(repr(v).split(".")[-1]) <= 6 for v in lift["absolute_ci"])
    assert 0 < lift["p_value"] < 1e-6  # small p-values keep their significant digits


def test_analyse_rejects_bad_input() -> None:
    good = _arms(("A", 0.5, 100, 10), ("B", 0.5, 100, 10))
    with pytest.raises(ValueError):
        analyse(good, control="Z", primary="chat")
    with pytest.raises(ValueError):
        analyse(_arms(("A", 0.5, 100, 10), ("A", 0.5, 100, 10)), control="A", primary="chat")
    with pytest.raises(ValueError):
        analyse(_arms(("A", 0.5, 100, 101), ("B", 0.5, 100, 10)), control="A", primary="chat")
