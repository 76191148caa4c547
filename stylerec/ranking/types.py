"""The ranking contract shared by serving, delivery (API, template tags) and offline evaluation.

These names are frozen: the delivery and evaluation code import them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BLOCKS = ("for_you", "similar", "in_your_style", "bought_together", "trending")
SIGNALS = (
    "history", "context", "style", "visual", "sentiment", "collaborative", "popularity", "freshness",
    "factor", "sequence",
)  # fmt: skip


@dataclass(frozen=True)
class RecommendationRequest:
    block: str = "for_you"
    user_id: int | None = None
    session_key: str = ""
    product_id: int | None = None  # the product being viewed (context)
    k: int = 8
    category: str | None = None  # category filter
    profile_id: int | None = None  # force a RankingProfile (admin preview); else active/A-B
    explain: bool = False  # fill per-signal contributions (staff)
    # Products the blocks above on the same page already show: at most a quarter of k of them are
    # shown again (soft: the block refills from further candidates, and repeats only when short).
    avoid: tuple[int, ...] = ()


@dataclass(frozen=True)
class Reason:
    code: str  # "liked" | "style" | "rating" | "similar" | "bought_together" | "trending" | "new" ...
    text: str  # plain words: "Because you liked Retro Navy Pullover", "Matches your Retro style"


@dataclass(frozen=True)
class AspectNote:
    """What a shopper should know before buying, from the product's reviews (``explain.aspect_note_for``)."""

    aspect: str  # "fit"
    verdict: str  # "runs small" | "runs large" (``services.aggregates.aspect_summary_of``'s words)
    reviews: int  # how many reviews say so
    text: str  # plain words, translated: "Fit: runs small (12 reviews)"


@dataclass
class RecommendedItem:
    product: Any  # the product model instance
    score: float
    reasons: list[Reason]  # strongest first, at least one
    contributions: dict[str, float] = field(default_factory=dict)  # signal -> weighted contribution
    aspect_note: AspectNote | None = None


@dataclass
class RecommendationResult:
    block: str
    items: list[RecommendedItem]
    profile_id: int | None
    profile_version: int | None
    fallback: str | None = None  # e.g. "trending" when the personal block had nothing
    cached: bool = False
    from_pool: bool = False  # ranked from the customer's stored candidate pool (ranking.pools)
