"""The temporal leave-one-out split and the guarantees against leakage."""

import numpy as np
import pytest

from stylerec.lab.evaluation import baselines
from stylerec.lab.evaluation.protocol import (
    InteractionLog,
    LeakageError,
    LeaveOneOutSplit,
    history_matrix,
    log_deduplicate,
    scores_rank,
    split_leave_one_out,
)


def make_log(rows):
    users, items, times = zip(*rows, strict=True)
    return InteractionLog(
        users=np.array(users),
        items=np.array(items),
        timestamps=np.array(times, float),
        strengths=np.ones(len(rows)),
    )


def test_split_takes_the_last_item_for_test_and_the_one_before_for_validation():
    # user 0: items 5 (t=1), 6 (t=3), 7 (t=2), 8 (t=4) -> time order 5, 7, 6, 8
    # user 1: two items only -> stays in train, not evaluated
    log = make_log([(0, 5, 1), (0, 6, 3), (0, 7, 2), (0, 8, 4), (1, 5, 1), (1, 6, 2)])
    split = split_leave_one_out(log=log, n_users=2, n_items=10)
    assert split.test.items.tolist() == [8] and split.test.users.tolist() == [0]
    assert split.valid.items.tolist() == [6]
    assert sorted(zip(split.train.users.tolist(), split.train.items.tolist(), strict=False)) == [
        (0, 5),
        (0, 7),
        (1, 5),
        (1, 6),
    ]
    assert split.eval_users.tolist() == [0]


def test_validation_stage_sees_train_only_and_test_stage_adds_validation():
    log = make_log([(0, 1, 1), (0, 2, 2), (0, 3, 3), (0, 4, 4)])
    split = split_leave_one_out(log=log, n_users=1, n_items=5)
    assert history_matrix(split=split, stage="valid").toarray().tolist() == [[0, 1, 1, 0, 0]]
    assert history_matrix(split=split, stage="test").toarray().tolist() == [[0, 1, 1, 1, 0]]


def test_ties_in_time_keep_the_log_order():
    log = make_log([(0, 1, 5), (0, 2, 5), (0, 3, 5)])
    split = split_leave_one_out(log=log, n_users=1, n_items=4)
    assert (split.train.items.tolist(), split.valid.items.tolist(), split.test.items.tolist()) == (
        [1],
        [2],
        [3],
    )


def test_deduplicate_keeps_first_meeting_and_strongest_signal():
    log = InteractionLog(
        users=np.array([0, 0, 0]), items=np.array([4, 4, 2]),
        timestamps=np.array([9.0, 3.0, 5.0]), strengths=np.array([4.0, 1.0, 2.0]),
    )  # fmt: skip
    deduped = log_deduplicate(log)
    rows = sorted(
        zip(deduped.items.tolist(), deduped.timestamps.tolist(), deduped.strengths.tolist(), strict=True)
    )
    assert rows == [(2, 5.0, 2.0), (4, 3.0, 4.0)]


def test_history_refuses_a_model_input_that_contains_a_target():
    log = make_log([(0, 1, 1), (0, 2, 2), (0, 3, 3)])
    split = split_leave_one_out(log=log, n_users=1, n_items=4)
    leaky = LeaveOneOutSplit(
        train=split.train.concat(split.test), valid=split.valid, test=split.test, n_users=1, n_items=4
    )
    with pytest.raises(LeakageError):
        leaky.history("test")
    with pytest.raises(LeakageError):
        leaky.history("valid")


def test_an_item_only_predictable_through_leakage_scores_zero():
    """Every customer's test item is item 39, which nobody met before: without leakage no
    train-only model can rank it (it has no count, no co-occurrence); with the test rows in the
    input, popularity puts it first. The second half proves the check can see a leak."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(30):
        for t, item in enumerate(rng.choice(30, size=6, replace=False)):
            rows.append((user, int(item), t))
        rows.append((user, 39, 100))
    split = split_leave_one_out(log=make_log(rows), n_users=30, n_items=40)
    users = split.eval_users
    assert set(split.test.items.tolist()) == {39}
    for stage in ("valid", "test"):
        matrix = history_matrix(split=split, stage=stage)
        for name in ("popularity", "itemknn"):
            scores = baselines.BASELINES[name](matrix=matrix, users=users)
            rankings = scores_rank(scores=scores, exclude=matrix[users].tocsr())
            assert all(39 not in ranking[:20].tolist() for ranking in rankings), (stage, name)
    leaked = split.train.concat(split.valid).concat(split.test).matrix(n_users=30, n_items=40)
    scores = baselines.popularity_scores(matrix=leaked, users=users)
    rankings = scores_rank(scores=scores, exclude=history_matrix(split=split, stage="test")[users].tocsr())
    assert all(ranking[0] == 39 for ranking in rankings)


def test_scores_rank_removes_history_and_breaks_ties_by_index():
    import scipy.sparse as sp

    scores = np.array([[0.1, 0.9, 0.5, 0.5]])
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0]]))
    assert scores_rank(scores=scores, exclude=exclude)[0].tolist() == [2, 3, 0]
