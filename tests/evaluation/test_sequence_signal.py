"""The next-item (sequence) signal as the evaluation builds it: transitions counted from the
stage's training history only, directed, over the few items that follow, and relative to the
customer's best next item; and MovieLens genres as styles."""

import numpy as np
import pytest

from stylerec.lab.evaluation.datasets import GENRE_STYLES, genre_style, genre_styles_matrix
from stylerec.lab.evaluation.protocol import InteractionLog, split_leave_one_out
from stylerec.lab.evaluation.stylerec_model import _latent_inputs
from stylerec.ranking import latent


class _Data:
    """The three fields ``_latent_inputs`` reads of an EvalDataset."""

    def __init__(self, n_users: int, n_items: int):
        self.n_users, self.n_items, self.event_kind = n_users, n_items, "purchase"


def _log(histories: dict[int, list[int]]) -> InteractionLog:
    users = [u for u, items in histories.items() for _ in items]
    items = [i for seq in histories.values() for i in seq]
    stamps = [float(t) for seq in histories.values() for t in range(len(seq))]
    return InteractionLog(
        users=np.array(users),
        items=np.array(items),
        timestamps=np.array(stamps),
        strengths=np.ones(len(users)),
    )


def _sequence(inputs, customer, n_items):
    _, values, _ = latent.latent_signals(inputs=inputs, pool_ids=list(range(n_items)), customer=customer)
    return values


def test_transitions_come_from_the_stages_history_only():
    # user 0 goes 1 -> 2 -> 3, then validation 4, then test 5; users 1-3 go 0 -> 1 -> 2
    histories = {0: [1, 2, 3, 4, 5], 1: [0, 1, 2], 2: [0, 1, 2], 3: [0, 1, 2]}
    split = split_leave_one_out(log=_log(histories), n_users=4, n_items=6)
    data = _Data(4, 6)
    for stage, unseen in (("valid", {4, 5}), ("test", {5})):
        inputs, customers = _latent_inputs(dataset=data, history=split.history(stage), users=np.array([0]))
        reached = {j for nexts in inputs.transitions.values() for j, _ in nexts}
        assert not reached & unseen  # the stage's target, and anything later, is never a next item
        assert customers[0][0][0] == (3 if stage == "valid" else 4)  # the latest item first
    # in the test stage the validation step 3 -> 4 is history, so 4 follows 3 and 2
    inputs, _ = _latent_inputs(dataset=data, history=split.history("test"), users=np.array([0]))
    assert 4 in dict(inputs.transitions[3]) and 4 in dict(inputs.transitions[2])


def test_direction_matters_and_later_items_count_less():
    owners = [0, 0, 0, 1, 1, 1]
    items = [1, 2, 3, 1, 2, 3]
    transitions = latent.transitions_build(owners=owners, items=items)
    assert 1 not in dict(transitions.get(2, [])) and 2 not in dict(transitions.get(3, []))  # never backwards
    after_1 = dict(transitions[1])
    assert after_1[2] == pytest.approx(2 / (2 + latent.SEQUENCE_STEP_DECAY * 2 + latent.SEQUENCE_PRIOR))
    assert after_1[3] == pytest.approx(after_1[2] * latent.SEQUENCE_STEP_DECAY)  # two steps on
    # a window of SEQUENCE_WINDOW items: the item 6 steps on is not a next item of 0
    far = latent.transitions_build(owners=[0] * 7, items=[0, 1, 2, 3, 4, 5, 6])
    assert set(dict(far[0])) == set(range(1, latent.SEQUENCE_WINDOW + 1))


def test_the_signal_is_relative_to_the_customers_best_next_item_whatever_the_pool():
    transitions = latent.transitions_build(owners=[0, 0, 1, 1, 1, 2, 2], items=[1, 2, 1, 2, 3, 1, 3])
    inputs = latent.LatentInputs(transitions=transitions)
    full = _sequence(inputs, [(1, 4.0)], 4)
    assert full.max() == pytest.approx(1.0) and full[2] == 1.0  # 2 follows 1 most often
    assert 0.0 < full[3] < 1.0 and full[0] == full[1] == 0.0
    _, small, _ = latent.latent_signals(inputs=inputs, pool_ids=[3], customer=[(1, 4.0)])
    assert small[0] == pytest.approx(full[3])  # the same value whichever pool is scored
    assert not _sequence(inputs, [], 4).any()  # no history: the signal is 0


def test_movielens_genres_become_style_slugs():
    assert genre_style("Sci-Fi") == "sci-fi" and genre_style("Children's") == "childrens"
    assert genre_style("Film-Noir") == "film-noir" and genre_style("unknown") is None
    assert len(GENRE_STYLES) == 18 and "unknown" not in GENRE_STYLES
    styles = genre_styles_matrix([["Action", "Sci-Fi"], ["unknown"], ["Drama"]])
    assert styles.shape == (3, 18)
    assert {GENRE_STYLES[j] for j in np.flatnonzero(styles[0])} == {"action", "sci-fi"}
    assert not styles[1].any() and styles[2, GENRE_STYLES.index("drama")] == 1.0


def test_movielens_styles_shares_the_split_but_keeps_genres_out_of_the_text():
    from stylerec.lab.evaluation.datasets import dataset_load

    plain = dataset_load(name="movielens", max_users=5, encoder="genres")
    styled = dataset_load(name="movielens_styles", max_users=5, encoder="genres")
    assert styled.name == "movielens_styles" and styled.split_of == plain.split_of == "movielens"
    assert np.array_equal(plain.log.items, styled.log.items) and styled.style_names == GENRE_STYLES
    assert np.array_equal(plain.item_styles, styled.item_styles)
