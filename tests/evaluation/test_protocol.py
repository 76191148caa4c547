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


def test_split_follows_file_order_on_ties_and_duplicates_whatever_the_item_ids():
    """Ties in time go to the log's (file) order, never to the item ids: here the later-in-file
    item always has the *smaller* id. A duplicate keeps its earliest event (ties: the first in the
    file) at that event's place in the file."""
    rows = [  # user, item, time, strength
        (1, 9, 10, 1.0), (0, 9, 5, 1.0), (1, 3, 20, 1.0), (0, 8, 7, 2.0), (0, 7, 7, 1.0),
        (1, 2, 20, 1.0), (0, 6, 7, 1.0), (1, 9, 30, 5.0), (1, 1, 20, 1.0), (0, 8, 9, 4.0),
    ]  # fmt: skip
    users, items, times, strengths = (np.array(column) for column in zip(*rows, strict=True))
    log = InteractionLog(users=users, items=items, timestamps=times.astype(float), strengths=strengths)
    deduped = log_deduplicate(log)
    # item 9 of user 1 is kept once, at its first place (t=10) with its strongest strength (5);
    # item 8 of user 0 once, at t=7, strength 4; everything else in file order.
    kept = zip(deduped.users.tolist(), deduped.items.tolist(), deduped.timestamps.tolist(), strict=True)
    assert list(kept) == [
        (1, 9, 10.0), (0, 9, 5.0), (1, 3, 20.0), (0, 8, 7.0), (0, 7, 7.0), (1, 2, 20.0), (0, 6, 7.0),
        (1, 1, 20.0),
    ]  # fmt: skip
    assert deduped.strengths.tolist() == [5.0, 1.0, 1.0, 4.0, 1.0, 1.0, 1.0, 1.0]
    split = split_leave_one_out(log=deduped, n_users=2, n_items=10)
    # user 0: 9 (t=5), then 8, 7, 6 all at t=7 in file order -> valid 7, test 6
    # user 1: 9 (t=10), then 3, 2, 1 all at t=20 in file order -> valid 2, test 1
    assert split.test.users.tolist() == [0, 1]
    assert split.valid.items.tolist() == [7, 2] and split.test.items.tolist() == [6, 1]
    # Shuffling the log changes the split only through the file order of the tied events.
    rng = np.random.default_rng(3)
    for _ in range(20):
        shuffled = log.take(rng.permutation(len(log)))
        split = split_leave_one_out(log=log_deduplicate(shuffled), n_users=2, n_items=10)
        for user in (0, 1):
            rows_of_user = [
                (t, position, item)
                for position, (u, item, t) in enumerate(
                    zip(
                        shuffled.users.tolist(),
                        shuffled.items.tolist(),
                        shuffled.timestamps.tolist(),
                        strict=True,
                    )
                )
                if u == user
            ]
            first_seen: dict[int, tuple[float, int]] = {}
            for t, position, item in sorted(rows_of_user):
                first_seen.setdefault(item, (t, position))
            expected = [item for item, _ in sorted(first_seen.items(), key=lambda entry: entry[1])]
            assert split.test.items[user] == expected[-1] and split.valid.items[user] == expected[-2]


def recbole_leave_one_out(path) -> dict[int, list[int]]:
    """RecBole's split, written independently: the interactions in file order, a stable sort on
    the timestamp (``order: TO``), per user the last one is test and the one before it validation
    (``split: {LS: valid_and_test}``). Reads any atomic ``.inter`` file by its header; returns
    {user token: item tokens in RecBole's order} for the users with 3 or more."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        header = [field.split(":")[0] for field in next(handle).rstrip("\n").split("\t")]
        user_at, item_at, time_at = (header.index(name) for name in ("user_id", "item_id", "timestamp"))
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            rows.append((int(fields[user_at]), int(fields[item_at]), float(fields[time_at])))
    by_time = sorted(rows, key=lambda row: row[2])  # Python's sort is stable
    per_user: dict[int, list[int]] = {}
    for user, item, _ in by_time:
        per_user.setdefault(user, []).append(item)
    return {user: items for user, items in per_user.items() if len(items) >= 3}


def test_movielens_split_is_recboles_for_every_user():
    from stylerec.lab.evaluation.datasets import movielens_dir, movielens_load

    expected = {
        user: (items[-2], items[-1])
        for user, items in recbole_leave_one_out(movielens_dir() / "ml-100k.inter").items()
    }
    data = movielens_load(encoder="genres")
    split = split_leave_one_out(log=data.log, n_users=data.n_users, n_items=data.n_items)
    user_ids = sorted(expected)  # the loader numbers users by raw id
    got = {
        user_ids[u]: (data.item_ids[v], data.item_ids[t])
        for u, v, t in zip(
            split.test.users.tolist(), split.valid.items.tolist(), split.test.items.tolist(), strict=True
        )
    }
    assert len(expected) == 943
    assert got == expected
