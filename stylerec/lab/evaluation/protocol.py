"""Temporal leave-one-out: each user's last item is the test target, the one before it the
validation target, everything earlier is train.

Two stages share one split:

* ``"valid"`` — models see *train* only and are scored on the validation item (tuning,
  early stopping, fitting the learned weights);
* ``"test"`` — models see *train + validation* (everything the user did before the test item)
  and are scored on the test item, ranked against the full catalog.

In both stages the items already in the history are removed from the ranking, and the target
of the stage is never in the history a model is built from: ``LeaveOneOutSplit.history``
asserts it, so a leak fails loudly instead of inflating a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

STAGES = ("valid", "test")
MIN_INTERACTIONS = 3  # train + validation + test; users with fewer stay in train, unscored


class LeakageError(AssertionError):
    """A model's input contains a (user, item) pair it is evaluated on."""


@dataclass(frozen=True)
class InteractionLog:
    """Parallel arrays, one row per (user, item) event; indices are 0-based."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray  # seconds since the epoch
    strengths: np.ndarray  # how strong a signal of liking: a rating, or a weight by event kind

    def __post_init__(self) -> None:
        lengths = {len(self.users), len(self.items), len(self.timestamps), len(self.strengths)}
        if len(lengths) != 1:
            raise ValueError("InteractionLog arrays must have one length")

    def __len__(self) -> int:
        return len(self.users)

    def take(self, rows: np.ndarray) -> InteractionLog:
        return InteractionLog(
            users=self.users[rows],
            items=self.items[rows],
            timestamps=self.timestamps[rows],
            strengths=self.strengths[rows],
        )

    def concat(self, other: InteractionLog) -> InteractionLog:
        return InteractionLog(
            users=np.concatenate([self.users, other.users]),
            items=np.concatenate([self.items, other.items]),
            timestamps=np.concatenate([self.timestamps, other.timestamps]),
            strengths=np.concatenate([self.strengths, other.strengths]),
        )

    def matrix(self, *, n_users: int, n_items: int, values: str = "binary") -> sp.csr_matrix:
        """User × item CSR: 1 per pair ("binary") or the largest strength ("strength")."""
        data = np.ones(len(self)) if values == "binary" else self.strengths.astype(np.float64)
        coo = sp.coo_matrix((data, (self.users, self.items)), shape=(n_users, n_items))
        csr = coo.tocsr()
        csr.sum_duplicates()
        if values == "binary":
            csr.data[:] = 1.0
        return csr

    def pairs(self) -> set[tuple[int, int]]:
        return set(zip(self.users.tolist(), self.items.tolist(), strict=True))


def log_deduplicate(log: InteractionLog) -> InteractionLog:
    """One row per (user, item), the log's order kept. The row kept is the pair's earliest
    event, ties in time going to the one first in the log (the first time the user met the item:
    the moment a recommender could have helped; RecBole's ``rm_dup_inter: first``, which sorts by
    time before dropping duplicates); it stays where that event stands in the log, so the split's
    ties in time still follow the log's order. Its strength is the strongest the user ever gave."""
    if not len(log):
        return log
    position = np.arange(len(log))
    order = np.lexsort((position, log.timestamps, log.items, log.users))
    users, items = log.users[order], log.items[order]
    starts = np.flatnonzero(np.r_[True, (users[1:] != users[:-1]) | (items[1:] != items[:-1])])
    strongest = np.maximum.reduceat(log.strengths[order], starts)
    kept = order[starts]  # positions in the log of the kept events
    back = np.argsort(kept, kind="stable")
    deduped = log.take(kept[back])
    return InteractionLog(
        users=deduped.users, items=deduped.items, timestamps=deduped.timestamps, strengths=strongest[back]
    )


@dataclass(frozen=True)
class LeaveOneOutSplit:
    train: InteractionLog
    valid: InteractionLog  # one row per evaluated user
    test: InteractionLog  # one row per evaluated user, same user order as valid
    n_users: int
    n_items: int

    @property
    def eval_users(self) -> np.ndarray:
        return self.test.users

    def history(self, stage: str) -> InteractionLog:
        """What models may be built from in ``stage``; checked against the stage's targets."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        log = self.train if stage == "valid" else self.train.concat(self.valid)
        log_assert_no_leak(log=log, targets=self.targets(stage))
        if stage == "valid":
            log_assert_no_leak(log=log, targets=self.test)
        return log

    def targets(self, stage: str) -> InteractionLog:
        return self.valid if stage == "valid" else self.test


def log_assert_no_leak(*, log: InteractionLog, targets: InteractionLog) -> None:
    """Raise LeakageError when a target (user, item) pair is in ``log``."""
    leaked = log.pairs() & targets.pairs()
    if leaked:
        raise LeakageError(
            f"{len(leaked)} evaluated (user, item) pairs are in a model's input, e.g. {next(iter(leaked))}"
        )


def split_leave_one_out(*, log: InteractionLog, n_users: int, n_items: int) -> LeaveOneOutSplit:
    """Split a deduplicated log by time within each user: a stable sort on time, so events in
    the same second keep the log's (file) order (MovieLens has many ratings in the same second).
    This is RecBole's leave-one-out (``eval_args: {order: TO, split: {LS: valid_and_test}}``),
    which sorts the interactions by time with a stable sort over the loaded order."""
    order = np.lexsort((np.arange(len(log)), log.timestamps, log.users))
    log = log.take(order)
    # Position of each row from the end of its user's history: 0 = last.
    user_end = (
        np.r_[np.flatnonzero(log.users[1:] != log.users[:-1]), len(log) - 1]
        if len(log)
        else np.array([], int)
    )
    counts = np.diff(np.r_[-1, user_end])
    ends = np.repeat(user_end, counts)
    from_end = ends - np.arange(len(log))
    user_size = np.repeat(counts, counts)
    evaluated = user_size >= MIN_INTERACTIONS
    test_rows = np.flatnonzero(evaluated & (from_end == 0))
    valid_rows = np.flatnonzero(evaluated & (from_end == 1))
    train_rows = np.flatnonzero(~evaluated | (from_end >= 2))
    return LeaveOneOutSplit(
        train=log.take(train_rows),
        valid=log.take(valid_rows),
        test=log.take(test_rows),
        n_users=n_users,
        n_items=n_items,
    )


def history_matrix(*, split: LeaveOneOutSplit, stage: str, values: str = "binary") -> sp.csr_matrix:
    return split.history(stage).matrix(n_users=split.n_users, n_items=split.n_items, values=values)


def scores_rank(*, scores: np.ndarray, exclude: sp.csr_matrix) -> list[np.ndarray]:
    """Full-catalog rankings (best first), one per row of ``scores``; the items of the
    matching row of ``exclude`` (the user's history) are left out. Ties break by item index."""
    rankings = []
    for row in range(scores.shape[0]):
        seen = exclude.indices[exclude.indptr[row] : exclude.indptr[row + 1]]
        order = np.argsort(-scores[row], kind="stable")
        rankings.append(order[~np.isin(order, seen)])
    return rankings
