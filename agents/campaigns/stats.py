"""Experiment statistics for the campaigns' results page: pure functions of counts.

Every number on the page comes from here: per-arm conversion rates with Wilson intervals, the
lift of each arm over the control (Newcombe's interval for the difference, Katz's for the
ratio), an always-valid confidence sequence and p-value that stay honest however often the page
is reloaded, a sample ratio mismatch check, Benjamini-Hochberg across arms x metrics, and one
plain-language verdict. No I/O, no server imports and only the standard library, so that the
formulas can be read and tested on their own; docs/experiments.md gives each formula and source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any, Literal

__all__ = [
    "Analysis",
    "ArmCounts",
    "ArmResult",
    "Interval",
    "Lift",
    "MetricResult",
    "Sequential",
    "Srm",
    "Verdict",
    "VerdictCode",
    "analyse",
    "benjamini_hochberg",
    "confidence_sequence",
    "difference_interval",
    "relative_interval",
    "srm",
    "wilson",
    "z_test_p",
]

_NORMAL = NormalDist()
_SRM_WARN = 0.01
_SRM_FLAG = 0.001
_EPS = 1e-15  # relative precision at which the incomplete-gamma series and fraction stop
_TINY = 1e-300  # keeps Lentz's continued fraction away from a division by zero
_MAX_TERMS = 100_000

_NO_DIFFERENCE = "No difference detected yet — this does not mean no effect."

VerdictCode = Literal["sample_ratio", "not_enough_data", "better", "worse", "no_difference"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed interval [lo, hi]."""

    lo: float
    hi: float

    def excludes(self, value: float) -> bool:
        return value < self.lo or value > self.hi


@dataclass(frozen=True, slots=True)
class Sequential:
    """An always-valid estimate: the confidence sequence at this look and its p-value."""

    estimate: float
    interval: Interval
    p_value: float


@dataclass(frozen=True, slots=True)
class Srm:
    """Pearson's chi-square of the exposures against the arms' weights."""

    chi2: float
    dof: int
    p_value: float
    warn: bool
    flag: bool


def _z(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level, e.g. 1.959964 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return _NORMAL.inv_cdf(0.5 + confidence / 2.0)


def _check_counts(successes: int, n: int) -> None:
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"counts must satisfy 0 <= successes <= n, got {successes}/{n}")


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for a proportion (Wilson 1927); all of [0, 1] when n is 0.

    Unlike the textbook p +/- z*se, it stays inside [0, 1] and keeps its coverage near 0 and 1,
    where conversion rates live."""
    _check_counts(successes, n)
    z = _z(confidence)
    if n == 0:
        return Interval(0.0, 1.0)
    p, z2 = successes / n, z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(lo, hi)


def difference_interval(x1: int, n1: int, x0: int, n0: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval for p1 - p0 (Newcombe 1998, method 10).

    Each rate's distance to its own Wilson limits is combined in quadrature: well-behaved with
    small counts and at zero conversions, where the Wald interval collapses. [-1, 1] when an arm
    has no exposure."""
    w1, w0 = wilson(x1, n1, confidence), wilson(x0, n0, confidence)
    if n1 == 0 or n0 == 0:
        return Interval(-1.0, 1.0)
    p1, p0 = x1 / n1, x0 / n0
    d = p1 - p0
    lo = d - math.sqrt((p1 - w1.lo) ** 2 + (w0.hi - p0) ** 2)
    hi = d + math.sqrt((w1.hi - p1) ** 2 + (p0 - w0.lo) ** 2)
    return Interval(max(-1.0, lo), min(1.0, hi))


def relative_interval(
    x1: int, n1: int, x0: int, n0: int, confidence: float = 0.95
) -> Interval | None:
    """The interval for the relative lift p1/p0 - 1, from the log risk ratio (Katz et al. 1978).

    None when a count is zero: the ratio or its logarithm is then undefined."""
    _check_counts(x1, n1)
    _check_counts(x0, n0)
    z = _z(confidence)
    if 0 in (x1, n1, x0, n0):
        return None
    log_ratio = math.log((x1 / n1) / (x0 / n0))
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
    return Interval(math.exp(log_ratio - z * se) - 1.0, math.exp(log_ratio + z * se) - 1.0)


def _rho_squared(alpha: float, n_star: float) -> float:
    """The mixing parameter that makes the sequence tightest at n_star exposures (GrowthBook,
    after Waudby-Smith et al. 2023): rho^2 = (-2 ln a + ln(1 - 2 ln a)) / N*."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be between 0 and 1")
    if not n_star > 0:
        raise ValueError("n_star must be positive")
    log_alpha = math.log(alpha)
    return (-2.0 * log_alpha + math.log(1.0 - 2.0 * log_alpha)) / n_star


def confidence_sequence(
    x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05, n_star: float = 5000.0
) -> Sequential:
    """The asymptotic confidence sequence for p1 - p0 and its always-valid p-value.

    Waudby-Smith et al., "Time-uniform central limit theory and asymptotic confidence
    sequences" (2023), in the form GrowthBook uses: with N = n1 + n0 exposures, the standard
    error se of the difference and rho tuned by N*, the sequence is
    estimate +/- se * sqrt(2 (N rho^2 + 1) / (N rho^2) * ln(sqrt(N rho^2 + 1) / alpha)).
    Its coverage holds at every look at once, so the page may be read after every visitor.
    The p-value is the smallest level whose sequence (rho held at its tuned value) excludes 0:
    p < alpha exactly when this interval excludes 0. With no exposure in an arm, or no
    variation in either, the data say nothing yet: [-1, 1] and p = 1."""
    rho2 = _rho_squared(alpha, n_star)
    _check_counts(x1, n1)
    _check_counts(x0, n0)
    if n1 == 0 or n0 == 0:
        return Sequential(0.0, Interval(-1.0, 1.0), 1.0)
    p1, p0 = x1 / n1, x0 / n0
    estimate = p1 - p0
    variance = p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0
    if variance <= 0.0:
        return Sequential(estimate, Interval(-1.0, 1.0), 1.0)
    n = n1 + n0
    t = n * rho2 + 1.0
    half = math.sqrt(variance * 2.0 * t / (n * rho2) * math.log(math.sqrt(t) / alpha))
    # The mixture martingale's value is 1/p: exp(n rho^2 z^2 / (2 t)) / sqrt(t), z = estimate/se.
    log_p = 0.5 * math.log(t) - n * rho2 * estimate * estimate / (2.0 * t * variance)
    interval = Interval(max(-1.0, estimate - half), min(1.0, estimate + half))
    return Sequential(estimate, interval, math.exp(min(0.0, log_p)))


def z_test_p(x1: int, n1: int, x0: int, n0: int) -> float:
    """The two-sided p-value of the pooled two-proportion z-test, valid for one look only.

    Kept to show what peeking breaks; the results page never decides on it."""
    _check_counts(x1, n1)
    _check_counts(x0, n0)
    if n1 == 0 or n0 == 0:
        return 1.0
    pooled = (x1 + x0) / (n1 + n0)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n0)
    if variance <= 0.0:
        return 1.0
    z = (x1 / n1 - x0 / n0) / math.sqrt(variance)
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))  # erfc keeps small p-values exact


def _upper_gamma(a: float, x: float) -> float:
    """The regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a), for x > 0.

    A power series for the lower part below a + 1 (where Q is not small, so 1 - P loses
    nothing), Lentz's continued fraction for Q itself above (Numerical Recipes, 6.2)."""
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_MAX_TERMS):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return min(1.0, max(0.0, 1.0 - total * math.exp(log_prefix)))
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        step = d * c
        fraction *= step
        if abs(step - 1.0) < _EPS:
            break
    return min(1.0, math.exp(log_prefix) * fraction)


def _chi2_sf(chi2: float, dof: int) -> float:
    """P(X >= chi2) for X chi-square with dof degrees of freedom."""
    if dof <= 0 or chi2 <= 0.0:
        return 1.0
    if math.isinf(chi2):
        return 0.0
    return _upper_gamma(dof / 2.0, chi2 / 2.0)


def srm(observed: Sequence[int], weights: Sequence[float]) -> Srm:
    """Sample ratio mismatch: Pearson's chi-square of the exposures against the expected shares.

    As GrowthBook, Eppo and Statsig do, a mismatch flags broken assignment or tracking, and the
    threshold is strict (p < 0.001 flags, p < 0.01 warns) since the check runs on every
    experiment. Weights need not sum to 1. An arm of weight 0 expects nothing: it does not
    count as a degree of freedom, and any exposure in it is a certain mismatch."""
    if len(observed) != len(weights) or not observed:
        raise ValueError("one weight per observed count is needed")
    if any(o < 0 for o in observed) or any(not w >= 0 or math.isinf(w) for w in weights):
        raise ValueError("counts and weights must be non-negative and finite")
    total_weight = sum(weights)
    if total_weight <= 0:
        raise ValueError("at least one weight must be positive")
    total = sum(observed)
    dof = sum(1 for w in weights if w > 0) - 1
    if total == 0:
        return Srm(0.0, dof, 1.0, False, False)
    chi2 = 0.0
    for o, w in zip(observed, weights, strict=True):
        expected = total * w / total_weight
        if expected > 0:
            chi2 += (o - expected) ** 2 / expected
        elif o > 0:
            chi2 = math.inf
    p = _chi2_sf(chi2, dof)
    return Srm(chi2, dof, p, p < _SRM_WARN, p < _SRM_FLAG)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given.

    q_(i) = min over j >= i of m p_(j) / j, capped at 1: declaring every q < alpha keeps the
    expected share of false discoveries among them below alpha (Benjamini & Hochberg 1995)."""
    if any(not 0.0 <= p <= 1.0 for p in p_values):
        raise ValueError("p-values must be between 0 and 1")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        index = order[rank - 1]
        running = min(running, m * p_values[index] / rank)
        adjusted[index] = running
    return adjusted


# ------------------------------------------------------------------------------ the page


def _num(value: float | None, digits: int = 6) -> float | None:
    """A float for JSON: rounded, and None for what is undefined or infinite."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def _sig(value: float) -> float | None:
    """A p-value for JSON: four significant digits, so that small ones stay readable."""
    return float(f"{value:.4g}") if math.isfinite(value) else None


def _pair(interval: Interval | None) -> list[float | None] | None:
    return None if interval is None else [_num(interval.lo), _num(interval.hi)]


@dataclass(frozen=True, slots=True)
class ArmCounts:
    """What the store knows of one arm: its expected share of exposures, the visitors exposed
    and, per metric, how many of them converted."""

    key: str
    weight: float
    exposed: int
    conversions: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class MetricResult:
    converted: int
    rate: float | None
    ci: Interval

    def as_dict(self) -> dict[str, Any]:
        return {"converted": self.converted, "rate": _num(self.rate), "ci": _pair(self.ci)}


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One arm on the primary metric, and on every metric in `metrics`."""

    key: str
    exposed: int
    converted: int
    rate: float | None
    ci: Interval
    metrics: Mapping[str, MetricResult]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "exposed": self.exposed,
            "converted": self.converted,
            "rate": _num(self.rate),
            "ci": _pair(self.ci),
            "metrics": {name: m.as_dict() for name, m in self.metrics.items()},
        }


@dataclass(frozen=True, slots=True)
class Lift:
    """One arm against the control on one metric: rate differences, their intervals, and the
    always-valid p-value before and after the adjustment for many comparisons."""

    arm: str
    metric: str
    control: str
    absolute: float | None
    absolute_ci: Interval
    relative: float | None
    relative_ci: Interval | None
    sequential_ci: Interval
    p_value: float
    p_adjusted: float
    significant: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "metric": self.metric,
            "control": self.control,
            "absolute": _num(self.absolute),
            "absolute_ci": _pair(self.absolute_ci),
            "relative": _num(self.relative),
            "relative_ci": _pair(self.relative_ci),
            "sequential_ci": _pair(self.sequential_ci),
            "p_value": _sig(self.p_value),
            "p_adjusted": _sig(self.p_adjusted),
            "significant": self.significant,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The sentence at the top of the page, with its machine-readable code."""

    code: VerdictCode
    arm: str | None
    text: str
    warn: str | None


@dataclass(frozen=True, slots=True)
class Analysis:
    """The results page of one experiment, as typed values; as_dict() gives its JSON."""

    arms: Sequence[ArmResult]
    lift: Sequence[Lift]
    srm: Srm
    verdict: Verdict
    method: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        s, v = self.srm, self.verdict
        return {
            "arms": [arm.as_dict() for arm in self.arms],
            "lift": [lift.as_dict() for lift in self.lift],
            "srm": {"chi2": _num(s.chi2, 4), "dof": s.dof, "p_value": _sig(s.p_value),
                    "warn": s.warn, "flag": s.flag},
            "verdict": {"code": v.code, "arm": v.arm, "text": v.text, "warn": v.warn},
            "method": dict(self.method),
        }  # fmt: skip


def _arm_result(arm: ArmCounts, names: Sequence[str], confidence: float) -> ArmResult:
    metrics = {}
    for name in names:
        converted = arm.conversions.get(name, 0)
        _check_counts(converted, arm.exposed)
        rate = converted / arm.exposed if arm.exposed else None
        metrics[name] = MetricResult(converted, rate, wilson(converted, arm.exposed, confidence))
    main = metrics[names[0]]
    return ArmResult(arm.key, arm.exposed, main.converted, main.rate, main.ci, metrics)


def _compare(arm: ArmCounts, base: ArmCounts, metric: str, alpha: float, n_star: float) -> Lift:
    """One arm against the control on one metric, before any adjustment."""
    x1, n1 = arm.conversions.get(metric, 0), arm.exposed
    x0, n0 = base.conversions.get(metric, 0), base.exposed
    sequence = confidence_sequence(x1, n1, x0, n0, alpha, n_star)
    return Lift(
        arm=arm.key,
        metric=metric,
        control=base.key,
        absolute=x1 / n1 - x0 / n0 if n1 and n0 else None,
        absolute_ci=difference_interval(x1, n1, x0, n0, 1.0 - alpha),
        relative=(x1 / n1) / (x0 / n0) - 1.0 if n1 and x0 else None,
        relative_ci=relative_interval(x1, n1, x0, n0, 1.0 - alpha),
        sequential_ci=sequence.interval,
        p_value=sequence.p_value,
        p_adjusted=sequence.p_value,
        significant=False,
    )


def analyse(
    arms: Sequence[ArmCounts],
    *,
    control: str,
    primary: str,
    metrics: Sequence[str] | None = None,
    alpha: float = 0.05,
    n_star: float = 5000.0,
    min_exposures: int = 100,
    min_conversions: int = 25,
) -> Analysis:
    """Everything the results page shows for one experiment, from its counts.

    Every non-control arm is compared with the control on every metric (the primary first,
    then `metrics`, by default every metric counted). The always-valid p-values are adjusted
    together (Benjamini-Hochberg), and a lift is significant when its adjusted p-value is below
    alpha and both arms have min_exposures exposed and min_conversions primary conversions.
    The verdict reads the primary metric only, after the data checks."""
    by_key = {a.key: a for a in arms}
    if len(by_key) != len(arms):
        raise ValueError("arm keys must be unique")
    if control not in by_key:
        raise ValueError(f"the control arm {control!r} is not among the arms")
    if metrics is None:
        metrics = sorted({m for a in arms for m in a.conversions})
    names = list(dict.fromkeys([primary, *metrics]))
    results = {a.key: _arm_result(a, names, 1.0 - alpha) for a in arms}
    ready = {
        key: r.exposed >= min_exposures and r.converted >= min_conversions
        for key, r in results.items()
    }
    base = by_key[control]
    raw = [_compare(a, base, m, alpha, n_star) for a in arms if a is not base for m in names]
    adjusted = benjamini_hochberg([lift.p_value for lift in raw])
    lifts = [
        replace(lift, p_adjusted=q, significant=q < alpha and ready[lift.arm] and ready[control])
        for lift, q in zip(raw, adjusted, strict=True)
    ]
    mismatch = srm([a.exposed for a in arms], [a.weight for a in arms])
    need = (
        f"Not enough data yet: each arm needs {min_exposures} exposed visitors and "
        f"{min_conversions} conversions."
    )
    verdict = _verdict(lifts, mismatch, all(ready.values()), need, primary, control, alpha)
    method = {
        "rate_interval": f"Wilson score, {_percent(1.0 - alpha)} %",
        "lift_interval": "Newcombe hybrid score",
        "relative_interval": "log risk ratio, delta method (Katz)",
        "sequential": "asymptotic confidence sequence (Waudby-Smith et al. 2023), "
        f"N* = {n_star:g}, alpha = {alpha:g}",
        "srm": f"Pearson chi-square, warn p < {_SRM_WARN:g}, flag p < {_SRM_FLAG:g}",
        "multiple_comparisons": "Benjamini-Hochberg across arms x metrics",
        "minimum": f"{min_exposures} exposed and {min_conversions} conversions per arm",
    }
    return Analysis(list(results.values()), lifts, mismatch, verdict, method)


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}"


def _points(value: float) -> str:
    """A difference of rates in percentage points, signed: +2.1 (+0.04 when below 0.1)."""
    return f"{value * 100:+.2f}" if abs(value) < 0.001 else f"{value * 100:+.1f}"


def _p_text(p: float) -> str:
    if p < 0.0001:
        return "p < 0.0001"
    return f"p = {p:.1g}" if p < 0.001 else f"p = {p:.3f}"


def _verdict(
    lifts: Sequence[Lift],
    mismatch: Srm,
    enough: bool,
    need: str,
    primary: str,
    control: str,
    alpha: float,
) -> Verdict:
    """The sentence at the top of the page: a data problem first, then too little data, then
    the best significant arm on the primary metric (or the most harmful, when all are worse)."""
    warn = None
    if mismatch.warn and not mismatch.flag:
        warn = (
            "The arms' exposures differ from their weights more than chance usually explains "
            f"({_p_text(mismatch.p_value)}); check the setup if this persists."
        )
    if mismatch.flag:
        text = (
            "Data problem: the arms' exposures do not match their weights (sample ratio "
            f"mismatch, {_p_text(mismatch.p_value)}); fix the setup before reading results."
        )
        return Verdict("sample_ratio", None, text, None)
    if not enough:
        return Verdict("not_enough_data", None, need, warn)
    found = [lift for lift in lifts if lift.metric == primary and lift.significant]
    if not found:
        return Verdict("no_difference", None, _NO_DIFFERENCE, warn)
    best = max(found, key=_gain)
    pick = best if _gain(best) > 0 else min(found, key=_gain)
    code: VerdictCode = "better" if _gain(pick) > 0 else "worse"
    ci = pick.sequential_ci
    text = (
        f"{pick.arm} is {code} than {control}: {_points(_gain(pick))} points "
        f"({_percent(1 - alpha)} % always-valid interval {_points(ci.lo)} to {_points(ci.hi)})."
    )
    return Verdict(code, pick.arm, text, warn)


def _gain(lift: Lift) -> float:
    return lift.absolute or 0.0
