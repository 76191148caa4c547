from __future__ import annotations

from typing import Any

import pytest

from stylerec.models import RankingProfile
from stylerec.ranking.types import SIGNALS, RecommendationRequest
from stylerec.selectors import recommendations_for


def make_ranking_profile(*, only: dict[str, float] | None = None, **fields: Any) -> RankingProfile:
    """A saved profile; ``only`` sets those signal weights and zeroes the rest. Diversity and the
    category cap are off unless given, so tests see the pure score order."""
    fields.setdefault("name", f"profile-{RankingProfile.objects.count() + 1}")
    fields.setdefault("mmr_lambda", 1.0)
    fields.setdefault("max_per_category", 0)
    if only is not None:
        for name in SIGNALS:
            fields.setdefault(f"w_{name}", only.get(name, 0.0))
    return RankingProfile.objects.create(**fields)


def ids(result) -> list[int]:
    return [item.product.pk for item in result.items]


def recommend(**request: Any):
    return recommendations_for(RecommendationRequest(**request))


@pytest.fixture
def active_profile():
    """Factory: an active profile with the given weights."""

    def factory(**kwargs: Any) -> RankingProfile:
        return make_ranking_profile(is_active=True, **kwargs)

    return factory
