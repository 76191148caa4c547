"""Popularity is one formula: serving's SQL (``popularity_refresh``) and the offline evaluation
(``stylerec_model.trending_counts``, through ``collaborative.popularity_scores``) give the same
values on the same events."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from stylerec.customers import INTERACTION_WEIGHTS
from stylerec.lab.evaluation.protocol import InteractionLog
from stylerec.lab.evaluation.stylerec_model import trending_counts
from stylerec.models import Interaction, get_product_model
from stylerec.ranking.collaborative import popularity_refresh
from tests.factories import make_established, make_product, make_user

pytestmark = pytest.mark.django_db


def test_serving_and_evaluation_popularity_are_the_same_numbers():
    products = [make_product(direction=d) for d in range(1, 5)]
    customers = [make_user() for _ in range(3)]
    for customer in customers:
        make_established(customer)  # full trust: the evaluation counts every customer fully
    now = timezone.now()
    # (customer, product, kind, age in days): kinds weigh differently, old events decay, and
    # an event older than the 60-day window adds nothing.
    events = [
        (0, 0, "view", 0.5), (0, 0, "purchase", 2.0), (1, 0, "cart", 10.0), (2, 1, "click", 1.0),
        (2, 1, "view", 0.01), (1, 2, "purchase", 30.0), (0, 2, "view", 59.0), (2, 3, "purchase", 61.0),
        (1, 1, "view", 7.0),
    ]  # fmt: skip
    Interaction.objects.bulk_create(
        Interaction(
            user=customers[c], product_id=products[p].pk, kind=kind, created_at=now - timedelta(days=age)
        )
        for c, p, kind, age in events
    )
    popularity_refresh()
    served = dict(get_product_model().objects.values_list("pk", "popularity"))

    log = InteractionLog(
        users=np.array([c for c, _, _, _ in events]),
        items=np.array([p for _, p, _, _ in events]),
        timestamps=np.array([(now - timedelta(days=age)).timestamp() for *_, age in events]),
        strengths=np.ones(len(events)),
    )
    offline = trending_counts(
        log=log,
        n_items=len(products),
        at=np.array([now.timestamp()]),
        kind_weights=np.array([INTERACTION_WEIGHTS[kind] for _, _, kind, _ in events]),
    )[0]
    assert offline[3] == 0.0 and offline[0] > offline[1] > 0  # the window and the kind weights matter
    assert offline.tolist() == pytest.approx([served[p.pk] for p in products], rel=1e-6)
    # Unweighted counting (what the evaluation did before) is not what serving does.
    unweighted = trending_counts(log=log, n_items=len(products), at=np.array([now.timestamp()]))[0]
    assert unweighted.tolist() != pytest.approx([served[p.pk] for p in products], rel=1e-3)
