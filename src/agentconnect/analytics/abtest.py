"""The A/B verdict: per variant its rate, P(best) and a winner only when the evidence is enough.

Method (stated in every verdict): Bayesian beta-binomial. With a uniform Beta(1, 1) prior, a
variant with s successes in n trials has the posterior Beta(1 + s, 1 + n - s) for its true rate,
and

    P(arm i is best) = integral over [0, 1] of f_i(x) * prod_{j != i} F_j(x) dx

with f the posterior density and F its CDF. The integral is computed numerically with the
standard library only:

* a posterior with large n is a spike of width ~ sqrt(p(1 - p)/n), so the grid covers only
  [mean +- 10 sd] of each arm (the mass outside is negligible) and, in each stretch, is spaced
  after the narrowest posterior present there: a spike inside a broad posterior is still resolved
  and a broad one does not pay for the spike's resolution;
* each CDF is the cumulative Simpson integral of its density, pinned to the exact regularized
  incomplete beta function (continued fraction) at both ends of its interval, so quadrature and
  normalisation errors cancel;
* the probabilities are renormalised to sum to 1.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache
from itertools import accumulate, pairwise

METHOD = "bayesian_beta_binomial"
PRIOR = "Beta(1, 1)"

_SPREAD_SDS = 10.0  # each posterior is integrated over mean +- this many standard deviations
_POINTS_PER_SD = 10  # grid cells per standard deviation of the narrowest posterior present
_INTERVAL_TAIL = 0.025  # a 95% equal-tailed credible interval leaves 2.5% on each side
_MILLI = Decimal("0.001")  # probabilities in the reason: 3 decimals

_TINY = 1e-300  # Lentz's method: stands in for a zero denominator
_CF_EPSILON = 3e-16


@dataclass(frozen=True)
class Arm:
    """One variant's figures for one metric."""

    name: str
    successes: int  # e.g. unique opens
    trials: int  # e.g. delivered (the metric's denominator)


@dataclass(frozen=True)
class ArmResult:
    name: str
    successes: int
    trials: int
    rate: float | None  # successes / trials; None when trials == 0
    probability_best: float | None  # P(this arm's true rate is the highest); None without data
    credible_interval: tuple[float, float] | None  # 95% equal-tailed, of Beta(1+s, 1+n-s)


@dataclass(frozen=True)
class Verdict:
    method: str  # METHOD, stated in the API response
    prior: str  # PRIOR
    arms: list[ArmResult]  # in the order given
    winner: str | None  # P(best) >= threshold, and every arm has at least min_trials
    threshold: float
    min_trials: int
    reason: str  # one sentence: why there is a winner, or why not


# --- the regularized incomplete beta function ------------------------------------------------


def log_beta(a: float, b: float) -> float:
    """log B(a, b), through lgamma so that huge parameters do not overflow."""
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the CDF of Beta(a, b) at x (a, b > 0)."""
    if a <= 0 or b <= 0:
        raise ValueError("the beta parameters must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    # x^a (1-x)^b / B(a, b), in logs: with a, b ~ 10^7 each factor alone under/overflows.
    log_front = a * math.log(x) + b * math.log1p(-x) - log_beta(a, b)
    # The continued fraction converges fast only left of the mean; right of it, use the mirror
    # identity I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(1.0 - x, b, a) / b


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b), evaluated with the modified Lentz method."""
    # Near the mean the number of terms grows like sqrt(max(a, b)): bound it accordingly.
    max_terms = 100 + 10 * math.isqrt(int(max(a, b)) + 1)
    c = 1.0
    d = _nonzero(1.0 - (a + b) * x / (a + 1.0))
    d = 1.0 / d
    fraction = d
    for m in range(1, max_terms + 1):
        # The even step d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)) ...
        numerator = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 / _nonzero(1.0 + numerator * d)
        c = _nonzero(1.0 + numerator / c)
        fraction *= d * c
        # ... and the odd step d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 / _nonzero(1.0 + numerator * d)
        c = _nonzero(1.0 + numerator / c)
        step = d * c
        fraction *= step
        if abs(step - 1.0) < _CF_EPSILON:
            return fraction
    raise ArithmeticError(f"the incomplete beta continued fraction did not converge ({a}, {b})")


def _nonzero(value: float) -> float:
    return value if abs(value) >= _TINY else _TINY


# --- the posteriors and the integration grid ------------------------------------------------


@dataclass(frozen=True)
class _Posterior:
    alpha: float  # Beta(alpha, beta)
    beta: float
    sd: float
    lo: float  # the integration interval: mean +- _SPREAD_SDS sd, clipped to [0, 1]
    hi: float
    cdf_lo: float  # I_lo(alpha, beta), I_hi(alpha, beta): the exact CDF at both ends
    cdf_hi: float

    @classmethod
    def of(cls, arm: Arm) -> _Posterior:
        alpha = 1.0 + arm.successes
        beta = 1.0 + arm.trials - arm.successes
        total = alpha + beta
        mean = alpha / total
        sd = math.sqrt(alpha * beta / (total * total * (total + 1.0)))
        lo = max(0.0, mean - _SPREAD_SDS * sd)
        hi = min(1.0, mean + _SPREAD_SDS * sd)
        return cls(
            alpha,
            beta,
            sd,
            lo,
            hi,
            regularized_incomplete_beta(lo, alpha, beta),
            regularized_incomplete_beta(hi, alpha, beta),
        )


@dataclass(frozen=True)
class _Piece:
    """A stretch of the grid with uniform spacing and an even number (>= 4) of cells."""

    start: int  # grid indices of its first and last points
    end: int
    step: float


@dataclass
class _Grid:
    xs: list[float]
    weights: list[float]  # composite Simpson weights, summed where two pieces meet
    pieces: list[_Piece]
    index: dict[float, int]  # grid index of every interval end (an exact float of the grid)
    log_x: list[float]  # log(x) and log(1 - x), shared by every arm's density
    log_1mx: list[float]


def _build_grid(posteriors: Sequence[_Posterior]) -> _Grid:
    cuts = sorted({p.lo for p in posteriors} | {p.hi for p in posteriors})
    grid = _Grid([], [], [], {}, [], [])
    for left, right in pairwise(cuts):
        present = [p.sd for p in posteriors if p.lo <= left and right <= p.hi]
        if present:  # (a gap between disjoint intervals holds no mass: skip it)
            _add_piece(grid, left, right, min(present) / _POINTS_PER_SD)
    grid.log_x = [math.log(x) if x > 0.0 else -math.inf for x in grid.xs]
    grid.log_1mx = [math.log1p(-x) if x < 1.0 else -math.inf for x in grid.xs]
    return grid


def _add_piece(grid: _Grid, left: float, right: float, target_step: float) -> None:
    cells = 2 * max(2, math.ceil((right - left) / (2.0 * target_step)))
    step = (right - left) / cells
    if not grid.xs or grid.xs[-1] != left:
        grid.index[left] = len(grid.xs)
        grid.xs.append(left)
        grid.weights.append(0.0)
    start = len(grid.xs) - 1
    grid.xs.extend(left + k * step for k in range(1, cells))
    grid.xs.append(right)  # exactly right, not left + cells * step: it is another piece's left
    grid.index[right] = len(grid.xs) - 1
    third = step / 3.0
    grid.weights[start] += third
    grid.weights.extend((4.0 if k % 2 else 2.0) * third for k in range(1, cells))
    grid.weights.append(third)
    grid.pieces.append(_Piece(start, start + cells, step))


@dataclass(frozen=True)
class _Density:
    """One posterior tabulated on its own stretch of the grid, [start, end]."""

    posterior: _Posterior
    start: int
    end: int
    pdf: list[float]
    cdf: list[float]

    def cdf_on(self, start: int, end: int) -> list[float]:
        """The CDF at grid points start..end, taken as 0 below its stretch and 1 above it.

        (Not as the constants cdf_lo and cdf_hi: the CDF keeps falling below the stretch, on the
        scale of a standard deviation, so 0 errs by far less there than cdf_lo, which can be
        e^-11 for a skewed, exponential-like posterior.)
        """
        below = max(0, min(end + 1, self.start) - start)
        above = max(0, end - max(start - 1, self.end))
        first = max(start, self.start) - self.start
        inside = self.cdf[first : max(first, min(end, self.end) - self.start + 1)]
        return [0.0] * below + inside + [1.0] * above


def _tabulate(posterior: _Posterior, grid: _Grid) -> _Density:
    start, end = grid.index[posterior.lo], grid.index[posterior.hi]
    a1, b1 = posterior.alpha - 1.0, posterior.beta - 1.0
    # (a - 1) log x with a == 1 at x == 0 would be 0 * -inf: leave such a term out altogether.
    log_x = grid.log_x[start : end + 1] if a1 else [0.0] * (end - start + 1)
    log_1mx = grid.log_1mx[start : end + 1] if b1 else [0.0] * (end - start + 1)
    log_norm = -log_beta(posterior.alpha, posterior.beta)
    exp = math.exp
    pdf = [exp(log_norm + a1 * u + b1 * v) for u, v in zip(log_x, log_1mx, strict=True)]
    raw = _cumulative_simpson(pdf, start, [p for p in grid.pieces if start <= p.start < end])
    # Pin the integral to the exact CDF at both ends: this absorbs the quadrature error and the
    # rounding of log B(a, b) (lgamma of 10^7 carries ~1e-8 of absolute error).
    scale = (posterior.cdf_hi - posterior.cdf_lo) / raw[-1]
    cdf = [posterior.cdf_lo + scale * value for value in raw]
    return _Density(posterior, start, end, [scale * value for value in pdf], cdf)


def _cumulative_simpson(pdf: list[float], offset: int, pieces: list[_Piece]) -> list[float]:
    """The running integral of pdf from its first point, to O(h^5) on every cell.

    (Written as slices and comprehensions: a loop over the points costs twice as much.)
    """
    cdf = [0.0] * len(pdf)
    for piece in pieces:
        first, last = piece.start - offset, piece.end - offset
        h3, h24 = piece.step / 3.0, piece.step / 24.0
        # The even points: composite Simpson, one pair of cells at a time.
        even, odd = pdf[first : last + 1 : 2], pdf[first + 1 : last : 2]
        pairs = [h3 * (a + 4.0 * b + c) for a, b, c in zip(even, odd, even[1:], strict=False)]
        cdf[first : last + 1 : 2] = accumulate(pairs, initial=cdf[first])
        # The odd points: the cubic through the four nearest points, integrated over the cell
        # between the two middle ones (O(h^5), where a parabola over half a Simpson pair would
        # leave O(h^4)). The first cell of a piece looks ahead instead (a piece has >= 4 cells).
        cdf[first + 1] = cdf[first + 2] - h24 * (
            13.0 * (pdf[first + 1] + pdf[first + 2]) - pdf[first] - pdf[first + 3]
        )
        cdf[first + 3 : last : 2] = [
            F + h24 * (13.0 * (b + c) - a - d)
            for F, a, b, c, d in zip(
                cdf[first + 2 : last - 1 : 2],
                pdf[first + 1 : last - 2 : 2],
                pdf[first + 2 : last - 1 : 2],
                pdf[first + 3 : last : 2],
                pdf[first + 4 : last + 1 : 2],
                strict=True,
            )
        ]
    return cdf


# --- P(best) and the credible intervals ----------------------------------------------------


def _probabilities_best(densities: Sequence[_Density], grid: _Grid) -> list[float]:
    everyone = _product_of_cdfs(densities, len(grid.xs))
    raw = [_integral_best(i, densities, everyone, grid) for i in range(len(densities))]
    total = sum(raw)
    # Renormalise: the parts do sum to 1 in exact arithmetic; what is left is quadrature error.
    return [min(1.0, max(0.0, value / total)) for value in raw] if total > 0 else raw


def _product_of_cdfs(densities: Sequence[_Density], size: int) -> list[float]:
    """prod_j F_j at every grid point, F_j taken as 0 below arm j's stretch and 1 above it.

    Dividing this by F_i gives prod_{j != i} F_j in one pass per arm, where multiplying the
    others out for each arm would take k - 1 passes (10 overlapping arms: 90 instead of 20).
    """
    product = [1.0] * size
    for density in densities:
        start, end = density.start, density.end
        product[:start] = [0.0] * start
        product[start : end + 1] = [
            p * f for p, f in zip(product[start : end + 1], density.cdf, strict=True)
        ]
    return product


def _integral_best(
    i: int, densities: Sequence[_Density], everyone: list[float], grid: _Grid
) -> float:
    """Integral of f_i * prod_{j != i} F_j over arm i's own stretch (f_i vanishes elsewhere)."""
    mine = densities[i]
    products = everyone[mine.start : mine.end + 1]
    others = [
        product / own if own > 0.0 else _others_at(i, mine.start + k, densities)
        for k, (product, own) in enumerate(zip(products, mine.cdf, strict=True))
    ]
    weights = grid.weights[mine.start : mine.end + 1]
    return sum(w * f * p for w, f, p in zip(weights, mine.pdf, others, strict=True))


def _others_at(i: int, index: int, densities: Sequence[_Density]) -> float:
    """prod_{j != i} F_j at one grid point: where F_i = 0 (x = 0), so nothing to divide by."""
    return math.prod(
        density.cdf_on(index, index)[0] for j, density in enumerate(densities) if j != i
    )


def _credible_interval(density: _Density, grid: _Grid) -> tuple[float, float]:
    return (
        _quantile(_INTERVAL_TAIL, density, grid),
        _quantile(1.0 - _INTERVAL_TAIL, density, grid),
    )


def _quantile(q: float, density: _Density, grid: _Grid) -> float:
    """Invert the tabulated CDF by bisection on its cubic Hermite interpolant.

    The table (values and exact derivatives, the pdf) pins down the CDF within a cell to ~1e-8;
    inverting the continued fraction instead would cost up to 0.5 ms a call at n = 10^7.
    """
    cdf, pdf = density.cdf, density.pdf
    k = min(max(bisect_left(cdf, q), 1), len(cdf) - 1)  # the cell [k - 1, k] holding q
    x0, x1 = grid.xs[density.start + k - 1], grid.xs[density.start + k]
    h = x1 - x0
    f0, f1, d0, d1 = cdf[k - 1], cdf[k], pdf[k - 1] * h, pdf[k] * h
    low, high = 0.0, 1.0
    for _ in range(40):  # the cell is 0.1 sd wide: 40 halvings leave ~1e-13 sd
        t = 0.5 * (low + high)
        t2, t3 = t * t, t * t * t
        value = ((2 * t3 - 3 * t2 + 1) * f0 + (t3 - 2 * t2 + t) * d0 + (3 * t2 - 2 * t3) * f1) + (
            t3 - t2
        ) * d1
        if value < q:
            low = t
        else:
            high = t
    return x0 + 0.5 * (low + high) * h


# --- the verdict ----------------------------------------------------------------------------


def compare(
    arms: Sequence[Arm],
    *,
    threshold: float = 0.95,
    min_trials: int = 100,
    unit: str = "deliveries",
) -> Verdict:
    """The A/B verdict for one metric. unit names the trials in the reason ("deliveries")."""
    _check(arms, threshold, min_trials)
    # A verdict costs about a millisecond and depends on nothing but its figures, which change
    # only when new activities are folded: dashboards asking again get the one computed before.
    verdict = _verdict(tuple(arms), threshold, min_trials, unit)
    return replace(verdict, arms=list(verdict.arms))  # the caller's list is its own


@lru_cache(maxsize=4096)
def _verdict(arms: tuple[Arm, ...], threshold: float, min_trials: int, unit: str) -> Verdict:
    with_data = [arm for arm in arms if arm.trials > 0]
    probabilities: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    if with_data:
        # P(best) is among the arms with data: a prior alone says nothing about a variant.
        posteriors = [_Posterior.of(arm) for arm in with_data]
        grid = _build_grid(posteriors)
        densities = [_tabulate(posterior, grid) for posterior in posteriors]
        best = _probabilities_best(densities, grid)
        for arm, density, probability in zip(with_data, densities, best, strict=True):
            probabilities[arm.name] = probability
            intervals[arm.name] = _credible_interval(density, grid)
    results = [
        ArmResult(
            arm.name,
            arm.successes,
            arm.trials,
            arm.successes / arm.trials if arm.trials else None,
            probabilities.get(arm.name),
            intervals.get(arm.name),
        )
        for arm in arms
    ]
    winner, reason = _decide(results, threshold, min_trials, unit)
    return Verdict(METHOD, PRIOR, results, winner, threshold, min_trials, reason)


def _check(arms: Sequence[Arm], threshold: float, min_trials: int) -> None:
    if not arms:
        raise ValueError("an A/B comparison needs at least one variant")
    if len({arm.name for arm in arms}) != len(arms):
        raise ValueError("variant names must be unique")
    for arm in arms:
        if not 0 <= arm.successes <= arm.trials:
            raise ValueError(f"variant {arm.name}: need 0 <= successes <= trials")
    if not 0.0 < threshold <= 1.0:
        raise ValueError("the threshold is a probability in (0, 1]")
    if min_trials < 0:
        raise ValueError("min_trials cannot be negative")


def _decide(
    results: Sequence[ArmResult], threshold: float, min_trials: int, unit: str
) -> tuple[str | None, str]:
    if len(results) == 1:
        return None, "only one variant"
    # The sample-size gate comes first: an early lead on a few trials is mostly noise.
    short = min(results, key=lambda result: result.trials)
    if short.trials == 0:
        return None, f"not enough data: variant {short.name} has no {unit} yet"
    if short.trials < min_trials:
        return None, (
            f"not enough data: variant {short.name} has {short.trials} "
            f"of the {min_trials} {unit} needed"
        )
    best = max(results, key=lambda result: result.probability_best or 0.0)
    probability = best.probability_best or 0.0
    if probability >= threshold:
        others = "the other" if len(results) == 2 else "the others"
        return best.name, (
            f"variant {best.name} beats {others} with probability {_shown(probability)}"
        )
    return None, f"no variant reaches {threshold:g} (best: {best.name} at {_shown(probability)})"


def _shown(probability: float) -> str:
    """Rounded down to 3 decimals, so a probability short of the threshold never shows as it."""
    # Through the shortest decimal repr: float arithmetic (0.29 * 1000 = 289.99...) would
    # floor 0.29 to 0.289.
    floored = Decimal(repr(probability)).quantize(_MILLI, rounding=ROUND_FLOOR)
    return f"{floored:f}".rstrip("0").rstrip(".")
