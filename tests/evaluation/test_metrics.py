"""Metrics against examples worked out by hand."""

import math

import numpy as np
import pytest

from stylerec.lab.evaluation import metrics

RANKING = [7, 3, 9, 1, 4]  # items, best first


def test_hit_rate_counts_a_relevant_item_inside_the_cutoff_only():
    assert metrics.hit_rate_at_k(ranking=RANKING, relevant={9}, k=3) == 1.0
    assert metrics.hit_rate_at_k(ranking=RANKING, relevant={9}, k=2) == 0.0


def test_ndcg_of_a_single_item_is_one_over_log2_of_rank_plus_one():
    # item 9 at rank 3: 1 / log2(4) = 0.5; the ideal puts it at rank 1 (gain 1).
    assert metrics.ndcg_at_k(ranking=RANKING, relevant={9}, k=5) == pytest.approx(0.5)
    assert metrics.ndcg_at_k(ranking=RANKING, relevant={7}, k=5) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(ranking=RANKING, relevant={9}, k=2) == 0.0


def test_ndcg_with_two_relevant_items():
    # relevant 3 (rank 2) and 4 (rank 5): DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3).
    expected = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(ranking=RANKING, relevant={3, 4}, k=5) == pytest.approx(expected)


def test_precision_recall_f1():
    # top 4 = 7, 3, 9, 1; relevant {3, 1, 8}: 2 hits.
    assert metrics.precision_at_k(ranking=RANKING, relevant={3, 1, 8}, k=4) == pytest.approx(0.5)
    assert metrics.recall_at_k(ranking=RANKING, relevant={3, 1, 8}, k=4) == pytest.approx(2 / 3)
    # F1 = 2 · 0.5 · 2/3 / (0.5 + 2/3) = 4/7
    assert metrics.f1_at_k(ranking=RANKING, relevant={3, 1, 8}, k=4) == pytest.approx(4 / 7)
    assert metrics.f1_at_k(ranking=RANKING, relevant={8}, k=4) == 0.0


def test_reciprocal_rank_uses_the_first_relevant_item():
    assert metrics.reciprocal_rank(ranking=RANKING, relevant={1, 4}) == pytest.approx(1 / 4)
    assert metrics.reciprocal_rank(ranking=RANKING, relevant={8}) == 0.0


def test_catalog_coverage_is_the_share_of_items_recommended_to_anyone():
    rankings = [[0, 1, 2], [1, 2, 3]]
    assert metrics.catalog_coverage(rankings=rankings, n_items=10, k=2) == pytest.approx(3 / 10)


def test_intra_list_diversity_from_vectors_and_from_categories():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # pairs: (0,1) cos 1, (0,2) cos 0, (1,2) cos 0 -> mean 1/3 -> diversity 2/3
    assert metrics.intra_list_diversity(ranking=[0, 1, 2], k=3, item_vectors=vectors) == pytest.approx(2 / 3)
    categories = ["Shirt", "Shirt", "Bag"]
    assert metrics.intra_list_diversity(ranking=[0, 1, 2], k=3, item_categories=categories) == pytest.approx(
        2 / 3
    )
    assert metrics.intra_list_diversity(ranking=[0], k=3, item_categories=categories) == 0.0


def test_summary_averages_over_users():
    summary = metrics.metrics_summarise(
        rankings=[[0, 1, 2], [2, 1, 0]],
        relevant=[{0}, {0}],
        ks=[1, 3],
        n_items=4,
        item_categories=list("abcd"),
    )
    assert summary["hr@1"] == pytest.approx(0.5)
    assert summary["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert summary["ndcg@3"] == pytest.approx((1 + 0.5) / 2)
    assert summary["coverage@1"] == pytest.approx(2 / 4)
    assert summary["users"] == 2


def test_paired_bootstrap_of_identical_methods_is_zero():
    a = np.array([0.0, 1.0, 0.5, 0.0, 0.3])
    ci = metrics.paired_bootstrap(a=a, b=a)
    assert ci["mean"] == ci["low"] == ci["high"] == 0.0 and ci["p_not_above"] == 1.0


def test_paired_bootstrap_resamples_users_in_pairs_with_a_fixed_seed():
    rng = np.random.default_rng(1)
    b = rng.random(400)
    a = b + 0.05 + rng.normal(0, 0.01, 400)  # better for every user, by about 0.05
    ci = metrics.paired_bootstrap(a=a, b=b, resamples=500, seed=7)
    assert ci == metrics.paired_bootstrap(a=a, b=b, resamples=500, seed=7)  # reproducible
    assert ci["mean"] == pytest.approx(float((a - b).mean()))
    assert 0.0 < ci["low"] < ci["mean"] < ci["high"] < 0.1 and ci["p_not_above"] == 0.0
    # paired: the users' shared part (b) does not widen the interval of the difference
    unpaired_spread = float(np.std(a) / np.sqrt(400))
    assert ci["high"] - ci["low"] < unpaired_spread


def test_paired_bootstrap_interval_covers_zero_for_noise():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 2, 300).astype(float), rng.integers(0, 2, 300).astype(float)
    ci = metrics.paired_bootstrap(a=a, b=b)
    assert ci["low"] < 0.0 < ci["high"] or abs(ci["mean"]) > 0.05
    assert ci["resamples"] == metrics.BOOTSTRAP_RESAMPLES and ci["level"] == 0.95


def test_metric_per_user_averages_to_the_summary():
    rankings = [np.array([3, 1, 2]), np.array([2, 3, 1]), np.array([1, 2, 3])]
    relevant = [{1}, {1}, {9}]
    summary = metrics.metrics_summarise(rankings=rankings, relevant=relevant, ks=(2,), n_items=4)
    for key in ("ndcg@2", "hr@2"):
        per_user = metrics.metric_per_user(rankings=rankings, relevant=relevant, key=key)
        assert per_user.mean() == pytest.approx(summary[key])
    assert metrics.metric_per_user(rankings=rankings, relevant=relevant, key="hr@2").tolist() == [
        1.0,
        0.0,
        0.0,
    ]
