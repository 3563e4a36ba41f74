"""The A/B verdict: the incomplete beta, P(best) against closed forms, and the winner rules."""

from __future__ import annotations

import math
import random
import time
from fractions import Fraction

import pytest

from agentconnect.analytics.abtest import (
    METHOD,
    PRIOR,
    Arm,
    Verdict,
    _shown,
    compare,
    log_beta,
    regularized_incomplete_beta,
)

# --- references, derived independently of the code under test --------------------------------


def exact_incomplete_beta(x: float, a: int, b: int) -> float:
    """I_x(a, b) for integers: P(Binomial(a + b - 1, x) >= a), summed exactly in fractions."""
    # x = num / den exactly (a float is a dyadic rational): sum in integers, divide once.
    num, den = Fraction(x).as_integer_ratio()
    n = a + b - 1
    total = sum(math.comb(n, k) * num**k * (den - num) ** (n - k) for k in range(a, n + 1))
    return float(Fraction(total, den**n))


def exact_beats(alpha_x: int, beta_x: int, alpha_y: int, beta_y: int) -> float:
    """P(X > Y) for X ~ Beta(alpha_x, beta_x), Y ~ Beta(alpha_y, beta_y), integer alpha_x.

    Evan Miller's closed form: sum over i < alpha_x of
    B(alpha_y + i, beta_y + beta_x) / ((beta_x + i) B(1 + i, beta_x) B(alpha_y, beta_y)).
    """
    return math.fsum(
        math.exp(
            log_beta(alpha_y + i, beta_y + beta_x)
            - math.log(beta_x + i)
            - log_beta(1 + i, beta_x)
            - log_beta(alpha_y, beta_y)
        )
        for i in range(alpha_x)
    )


def posterior(successes: int, trials: int) -> tuple[int, int]:
    return 1 + successes, 1 + trials - successes


def probabilities(verdict: Verdict) -> dict[str, float]:
    found = {arm.name: arm.probability_best for arm in verdict.arms}
    assert all(value is not None for value in found.values())
    return {name: value for name, value in found.items() if value is not None}


# --- the regularized incomplete beta function -------------------------------------------------


@pytest.mark.parametrize("a", [1, 2, 3, 7, 20, 150])
@pytest.mark.parametrize("b", [1, 2, 5, 40, 300])
@pytest.mark.parametrize("x", [0.001, 0.1, 0.3, 0.5, 0.77, 0.99])
def test_incomplete_beta_matches_the_exact_binomial_sum(a: int, b: int, x: float) -> None:
    assert regularized_incomplete_beta(x, a, b) == pytest.approx(
        exact_incomplete_beta(x, a, b), rel=1e-11, abs=1e-15
    )


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 40.0, 1000.5, 3e6])
def test_incomplete_beta_is_one_half_at_the_centre_of_a_symmetric_beta(a: float) -> None:
    assert regularized_incomplete_beta(0.5, a, a) == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("x", [0.0, 0.01, 0.25, 0.6, 0.999, 1.0])
def test_incomplete_beta_special_cases(x: float) -> None:
    assert regularized_incomplete_beta(x, 1, 1) == pytest.approx(x, abs=1e-15)
    assert regularized_incomplete_beta(x, 4, 1) == pytest.approx(x**4, abs=1e-15)
    assert regularized_incomplete_beta(x, 1, 3) == pytest.approx(1 - (1 - x) ** 3, abs=1e-15)
    # the arcsine law: I_x(1/2, 1/2) = (2 / pi) asin(sqrt(x))
    arcsine = 2 / math.pi * math.asin(math.sqrt(x))
    assert regularized_incomplete_beta(x, 0.5, 0.5) == pytest.approx(arcsine, abs=1e-13)


@pytest.mark.parametrize(("a", "b"), [(3.5, 9.25), (1e3 + 1, 9e3 + 1), (1e6 + 1, 9e6 + 1)])
def test_incomplete_beta_is_monotone_and_mirrors(a: float, b: float) -> None:
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    xs = [min(1.0, max(0.0, mean + k * sd / 2)) for k in range(-12, 13)]
    values = [regularized_incomplete_beta(x, a, b) for x in xs]
    assert values == sorted(values)
    for x, value in zip(xs, values, strict=True):
        # (log B(a, b) of parameters ~1e7 carries ~1e-8 of rounding: hence not 1e-12)
        assert value + regularized_incomplete_beta(1 - x, b, a) == pytest.approx(1, abs=1e-9)


def test_incomplete_beta_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="positive"):
        regularized_incomplete_beta(0.5, 0, 1)


# --- P(best) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((3, 20), (6, 20)),  # tiny samples: skewed posteriors, clipped at 0
        ((10, 100), (15, 100)),
        ((0, 150), (2, 150)),  # no successes at all in one arm
        ((140, 150), (150, 150)),  # every trial a success: the posterior piles up at 1
        ((100, 1000), (120, 1000)),
        ((100, 1000), (260, 2400)),  # unequal sizes
        ((1000, 10_000), (1030, 10_000)),
        ((5000, 50_000), (5100, 50_000)),
        ((10, 100), (1_000_000, 10_000_000)),  # a broad posterior around a spike
    ],
)
def test_two_arms_match_the_exact_closed_form(a: tuple[int, int], b: tuple[int, int]) -> None:
    verdict = compare([Arm("A", *a), Arm("B", *b)])
    found = probabilities(verdict)
    # Sum over the smaller alpha (the closed form has alpha terms).
    alpha_a, beta_a = posterior(*a)
    alpha_b, beta_b = posterior(*b)
    if alpha_a <= alpha_b:
        expected_a = exact_beats(alpha_a, beta_a, alpha_b, beta_b)
    else:
        expected_a = 1 - exact_beats(alpha_b, beta_b, alpha_a, beta_a)
    assert found["A"] == pytest.approx(expected_a, abs=1e-5)
    assert found["B"] == pytest.approx(1 - expected_a, abs=1e-5)


def test_swapping_the_arms_swaps_the_probabilities() -> None:
    a, b = Arm("A", 48, 400), Arm("B", 61, 420)
    forward = probabilities(compare([a, b]))
    backward = probabilities(compare([b, a]))
    assert forward == pytest.approx(backward, abs=1e-12)
    # Mirroring successes and failures turns the best rate into the worst.
    mirrored = probabilities(compare([Arm("A", 400 - 48, 400), Arm("B", 420 - 61, 420)]))
    assert mirrored["A"] == pytest.approx(forward["B"], abs=1e-9)


def test_three_arms_sum_to_one_and_agree_with_sampling() -> None:
    arms = [Arm("A", 30, 300), Arm("B", 38, 310), Arm("C", 41, 290)]
    found = probabilities(compare(arms))
    assert sum(found.values()) == pytest.approx(1, abs=1e-12)
    rng = random.Random(7)
    draws = 40_000
    wins = dict.fromkeys(found, 0)
    for _ in range(draws):
        rates = {arm.name: rng.betavariate(*posterior(arm.successes, arm.trials)) for arm in arms}
        wins[max(rates, key=rates.__getitem__)] += 1
    for name, value in found.items():
        # 5 standard errors of a proportion estimated from 40,000 draws
        assert value == pytest.approx(wins[name] / draws, abs=5 * math.sqrt(0.25 / draws))


def test_three_arms_where_one_dominates_the_other_two_pairwise() -> None:
    # C is 14 standard errors ahead: it is the best all but surely, and A and B, identical,
    # split the little that is left exactly.
    arms = [Arm("A", 100, 1000), Arm("B", 100, 1000), Arm("C", 300, 1000)]
    found = probabilities(compare(arms))
    assert found["C"] == pytest.approx(1, abs=1e-9)
    assert found["A"] == pytest.approx(found["B"], abs=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize(("successes", "trials"), [(0, 1), (3, 40), (1_000_000, 10_000_000)])
def test_identical_arms_share_the_probability(k: int, successes: int, trials: int) -> None:
    found = probabilities(compare([Arm(f"V{i}", successes, trials) for i in range(k)]))
    for value in found.values():
        assert value == pytest.approx(1 / k, abs=1e-9)


def test_huge_samples_do_not_overflow() -> None:
    verdict = compare([Arm("A", 10**8, 10**9), Arm("B", 10**8 + 20_000, 10**9)])
    found = probabilities(verdict)
    # The rates differ by 2e-5 against a standard error of the difference of 1.34e-5: at this
    # size the posteriors are normal to well within the tolerance.
    z = 2e-5 / math.sqrt(2 * 0.09 / 1e9)
    expected_b = 0.5 * math.erfc(-z / math.sqrt(2))
    assert found["B"] == pytest.approx(expected_b, abs=1e-3)
    for arm in verdict.arms:
        assert arm.credible_interval is not None
        low, high = arm.credible_interval
        assert low < (arm.rate or 0) < high
        assert high - low == pytest.approx(2 * 1.959964 * math.sqrt(0.09 / 1e9), rel=1e-3)


def test_the_result_is_deterministic() -> None:
    arms = [Arm("A", 212, 2000), Arm("B", 230, 2100), Arm("C", 199, 1900)]
    assert compare(arms) == compare(arms)


def test_ten_arms_of_ten_million_are_fast() -> None:
    arms = [Arm(f"V{i}", 1_000_000 + 250 * i, 10_000_000) for i in range(10)]
    compare(arms)  # (warm up)
    elapsed = []
    for _ in range(5):
        started = time.perf_counter()
        verdict = compare(arms)
        elapsed.append(time.perf_counter() - started)
    # Measured ~2-3 ms on an idle machine; the margin is for a loaded CI runner.
    assert min(elapsed) < 0.050
    assert sum(probabilities(verdict).values()) == pytest.approx(1, abs=1e-12)


# --- the credible interval --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials"), [(0, 1), (1, 1), (0, 50), (50, 50), (7, 90), (1234, 10_000)]
)
def test_the_credible_interval_holds_95_percent_with_equal_tails(
    successes: int, trials: int
) -> None:
    (arm,) = compare([Arm("A", successes, trials)]).arms
    assert arm.credible_interval is not None
    low, high = arm.credible_interval
    a, b = posterior(successes, trials)
    # The tabulated CDF is good to ~1e-7: a quantile off by a millionth of a standard deviation.
    assert regularized_incomplete_beta(low, a, b) == pytest.approx(0.025, abs=1e-6)
    assert regularized_incomplete_beta(high, a, b) == pytest.approx(0.975, abs=1e-6)


def test_the_credible_interval_in_closed_form() -> None:
    # Beta(1, 2): F(x) = 1 - (1 - x)^2; Beta(2, 1): F(x) = x^2.
    (none,) = compare([Arm("A", 0, 1)]).arms
    (every,) = compare([Arm("A", 1, 1)]).arms
    assert none.credible_interval == pytest.approx(
        (1 - math.sqrt(0.975), 1 - math.sqrt(0.025)), abs=1e-9
    )
    assert every.credible_interval == pytest.approx((math.sqrt(0.025), math.sqrt(0.975)), abs=1e-9)


# --- the winner rules -------------------------------------------------------------------------


def test_a_clear_winner_with_enough_data() -> None:
    verdict = compare([Arm("A", 100, 1000), Arm("B", 150, 1000)])
    assert verdict.method == METHOD == "bayesian_beta_binomial"
    assert verdict.prior == PRIOR == "Beta(1, 1)"
    assert (verdict.threshold, verdict.min_trials) == (0.95, 100)
    assert verdict.winner == "B"
    assert verdict.reason.startswith("variant B beats the other with probability 0.99")
    assert [arm.rate for arm in verdict.arms] == [0.1, 0.15]


def test_a_winner_among_several_beats_the_others() -> None:
    verdict = compare([Arm("A", 100, 1000), Arm("B", 100, 1000), Arm("C", 200, 1000)])
    assert verdict.winner == "C"
    # 1 - 1e-9 is shown rounded down: a 1 would claim certainty.
    assert verdict.reason == "variant C beats the others with probability 0.999"


def test_no_winner_below_the_threshold() -> None:
    arms = [Arm("A", 100, 1000), Arm("B", 115, 1000)]
    p_b = probabilities(compare(arms))["B"]
    assert 0.8 < p_b < 0.95
    verdict = compare(arms)
    assert verdict.winner is None
    assert verdict.reason == f"no variant reaches 0.95 (best: B at {_shown(p_b)})"
    lenient = compare(arms, threshold=0.8)
    assert lenient.winner == "B"
    assert lenient.threshold == 0.8


def test_no_winner_before_every_arm_has_min_trials() -> None:
    arms = [Arm("A", 2, 40), Arm("B", 60, 100)]
    assert probabilities(compare(arms))["B"] > 0.999
    verdict = compare(arms)
    assert verdict.winner is None
    assert verdict.reason == "not enough data: variant A has 40 of the 100 deliveries needed"
    assert compare(arms, min_trials=40).winner == "B"
    opens = compare(arms, min_trials=50, unit="opens")
    assert opens.reason == "not enough data: variant A has 40 of the 50 opens needed"


def test_an_arm_without_trials() -> None:
    verdict = compare([Arm("A", 0, 0), Arm("B", 30, 200), Arm("C", 45, 200)], min_trials=0)
    empty, b, c = verdict.arms
    assert (empty.rate, empty.probability_best, empty.credible_interval) == (None, None, None)
    # P(best) is shared among the arms with data.
    assert (b.probability_best or 0) + (c.probability_best or 0) == pytest.approx(1, abs=1e-12)
    assert verdict.winner is None
    assert verdict.reason == "not enough data: variant A has no deliveries yet"


def test_no_arm_with_trials() -> None:
    verdict = compare([Arm("A", 0, 0), Arm("B", 0, 0)])
    assert [arm.probability_best for arm in verdict.arms] == [None, None]
    assert verdict.winner is None


def test_a_single_variant() -> None:
    verdict = compare([Arm("A", 30, 500)])
    (arm,) = verdict.arms
    assert arm.probability_best == 1.0
    assert verdict.winner is None
    assert verdict.reason == "only one variant"
    (lonely,) = compare([Arm("A", 0, 0)]).arms
    assert lonely.probability_best is None


def test_a_probability_is_never_shown_as_reaching_a_threshold_it_misses() -> None:
    assert _shown(0.9499) == "0.949"
    assert _shown(0.949999999999) == "0.949"
    assert _shown(1 - 1e-12) == "0.999"
    assert _shown(3e-20) == "0"
    assert _shown(0.97) == "0.97"
    assert _shown(0.29) == "0.29"
    assert _shown(1.0) == "1"
    assert _shown(0.0) == "0"


@pytest.mark.parametrize(
    ("arms", "options", "message"),
    [
        ([], {}, "at least one"),
        ([Arm("A", 1, 10), Arm("A", 2, 10)], {}, "unique"),
        ([Arm("A", 11, 10)], {}, "successes"),
        ([Arm("A", -1, 10)], {}, "successes"),
        ([Arm("A", 1, 10)], {"threshold": 0.0}, "threshold"),
        ([Arm("A", 1, 10)], {"threshold": 1.5}, "threshold"),
        ([Arm("A", 1, 10)], {"min_trials": -1}, "min_trials"),
    ],
)
def test_bad_input_is_refused(arms: list[Arm], options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare(arms, **options)  # type: ignore[arg-type]


def test_a_verdict_asked_again_is_the_same_and_the_callers_own() -> None:
    arms = [Arm("A", 120, 1000), Arm("B", 90, 1000)]
    first = compare(arms)
    first.arms.clear()  # what one caller does to its answer ...
    again = compare(list(arms))
    assert [arm.name for arm in again.arms] == ["A", "B"]  # ... does not reach the next one
    assert again == compare(arms)
    assert again.winner == "A"
