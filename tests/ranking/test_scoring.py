from types import SimpleNamespace

import numpy as np
import pytest

from stylerec.ranking.scoring import SIGNAL_INDEX, fuse
from stylerec.ranking.types import SIGNALS


def _profile(formula: str = "additive", bias: float = 0.0, **weights: float) -> SimpleNamespace:
    return SimpleNamespace(formula=formula, bias=bias, **{f"w_{s}": weights.get(s, 0.0) for s in SIGNALS})


def test_additive_is_the_weighted_sum_plus_bias_and_contributions_add_up():
    rng = np.random.default_rng(0)
    matrix = rng.uniform(-1, 1, (5, len(SIGNALS)))
    weights = {name: float(i + 1) / 10 for i, name in enumerate(SIGNALS)}
    scores, contributions = fuse(matrix, _profile(bias=0.5, **weights))
    expected = matrix @ np.array([weights[s] for s in SIGNALS]) + 0.5
    np.testing.assert_allclose(scores, expected)
    np.testing.assert_allclose(contributions.sum(axis=1) + 0.5, scores)


def test_gated_profile_reproduces_the_seed_formula_exactly():
    """score = (w_s·sentiment + w_t·visual) × cos(history, product), with every other weight 0."""
    rng = np.random.default_rng(1)
    matrix = rng.uniform(-1, 1, (50, len(SIGNALS)))
    w_s, w_t = 0.7, 0.3
    scores, contributions = fuse(matrix, _profile("gated", sentiment=w_s, visual=w_t))
    s = matrix[:, SIGNAL_INDEX["sentiment"]]
    v = matrix[:, SIGNAL_INDEX["visual"]]
    h = matrix[:, SIGNAL_INDEX["history"]]
    np.testing.assert_allclose(scores, (w_s * s + w_t * v) * h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(contributions[:, SIGNAL_INDEX["sentiment"]], w_s * s * h)


def test_gated_adds_the_other_signals_on_top_of_the_gate():
    matrix = np.zeros((1, len(SIGNALS)))
    matrix[0, SIGNAL_INDEX["history"]] = 0.5
    matrix[0, SIGNAL_INDEX["sentiment"]] = 1.0
    matrix[0, SIGNAL_INDEX["popularity"]] = 1.0
    scores, _ = fuse(matrix, _profile("gated", sentiment=1.0, history=2.0, popularity=0.25))
    assert scores[0] == pytest.approx(1.0 * 0.5 + 2.0 * 0.5 + 0.25)


def test_fuse_rejects_a_matrix_with_the_wrong_number_of_signals():
    with pytest.raises(ValueError):
        fuse(np.zeros((3, 2)), _profile())


def test_similar_block_leans_on_the_viewed_product_not_history():
    from stylerec.ranking.scoring import profile_for_block

    profile = SimpleNamespace(**{f"w_{s}": 1.0 for s in SIGNALS}, bias=0.0, formula="additive")
    # product 0 matches the customer's history, product 1 the product being viewed
    matrix = np.zeros((2, len(SIGNALS)))
    matrix[0, SIGNALS.index("history")] = 0.9
    matrix[1, SIGNALS.index("context")] = 0.6
    assert fuse(matrix, profile)[0].argmax() == 0  # "for you": history leads
    assert fuse(matrix, profile_for_block(profile, "similar"))[0].argmax() == 1
    assert profile.w_context == 1.0  # the merchandiser's profile is not changed
    assert profile_for_block(profile, "for_you") is profile
