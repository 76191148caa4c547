"""stylerec's data model. PostgreSQL only: vectors live in pgvector columns with HNSW indexes.

The product model is swappable (``STYLEREC_PRODUCT_MODEL``) like ``AUTH_USER_MODEL``: a store keeps
its own product table by inheriting ``AbstractProduct``; everything else points at it through
``conf.stylerec_settings.PRODUCT_MODEL``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.signals import class_prepared
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from stylerec.conf import DEFAULT_PRODUCT_MODEL, stylerec_settings
from stylerec.customers import InteractionKind
from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM

if TYPE_CHECKING:  # pragma: no cover
    from django.db.models.fields.related_descriptors import RelatedManager

PRODUCT_MODEL = getattr(settings, "STYLEREC_PRODUCT_MODEL", DEFAULT_PRODUCT_MODEL)


def get_product_model() -> type[AbstractProduct]:
    """The product model in use (the default or the host's swapped one)."""
    try:
        return django_apps.get_model(stylerec_settings.PRODUCT_MODEL, require_ready=False)
    except (ValueError, LookupError) as exc:
        raise ImproperlyConfigured(
            f"STYLEREC_PRODUCT_MODEL refers to {stylerec_settings.PRODUCT_MODEL!r}, which is not an "
            "installed model inheriting stylerec.models.AbstractProduct"
        ) from exc


# The ``session_key`` columns hold a pseudonym (stylerec.customers.session_customer_key), never a
# session key: a session key signs its holder in.
ANONYMOUS_KEY_HELP = (
    "Pseudonym of an anonymous visitor's session (a keyed hash; it cannot sign anybody in). "
    "Empty for signed-in customers."
)


class ArtifactStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    STALE = "stale", "Stale"


class AbstractProduct(models.Model):
    """stylerec's product columns. Hosts inherit this to keep their own product table.

    Every column can be added to a table that already has rows without a question from
    ``makemigrations`` (a default, or NULL): fields the host's model already has stay the host's;
    the others start as "" (title, category), NULL (price: not known yet; stock: not tracked, so
    shown as available) and the time of the migration (created_at). Forms still require a title,
    a category and a price."""

    sku = models.CharField(max_length=64, blank=True, db_index=True, help_text="The store's own product id.")
    title = models.CharField(max_length=255, default="")
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, db_index=True, default="")
    brand = models.CharField(max_length=100, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, validators=[MinValueValidator(0)])
    # None = the store does not track stock for this product: it is shown (in_stock_only hides 0 only).
    stock = models.PositiveIntegerField(
        null=True, blank=True, default=None, help_text="Units in stock; empty = not tracked (shown)."
    )
    image = models.ImageField(upload_to="products/", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # --- artifacts computed by the pipeline (never edited by hand) ---------------------------
    text_embedding = VectorField(dimensions=TEXT_DIM, null=True, blank=True, editable=False)
    image_embedding = VectorField(dimensions=IMAGE_DIM, null=True, blank=True, editable=False)
    style_scores = models.JSONField(default=dict, blank=True, editable=False)  # {style slug: weight}
    # Review aggregates, resistant to manipulation (see services): Bayesian average in [-1, 1].
    sentiment_score = models.FloatField(null=True, blank=True, editable=False)
    rating_average = models.FloatField(null=True, blank=True, editable=False)
    review_count = models.PositiveIntegerField(default=0, editable=False)
    # What the reviews say about fit, quality, ... (``services.aggregates.aspect_summary_of`` rows), kept
    # with the other aggregates so a block reads it with the product rows it fetches anyway.
    aspect_summary = models.JSONField(default=list, blank=True, editable=False)
    popularity = models.FloatField(default=0.0, editable=False)  # decayed interaction count
    sales_count = models.PositiveIntegerField(default=0, editable=False)

    # Type-only (no value, so no manager is added at runtime): stylerec queries the concrete product
    # model through Django's default ``objects`` manager, which the stubs omit on abstract models.
    # Likewise the reverse side of Review.product, which exists on whichever model is swapped in.
    objects: ClassVar[models.Manager[Self]]
    stylerec_reviews: RelatedManager[Review]

    class Meta:
        abstract = True
        indexes = [
            HnswIndex(
                name="%(app_label)s_%(class)s_text_hnsw",
                fields=["text_embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            HnswIndex(
                name="%(app_label)s_%(class)s_image_hnsw",
                fields=["image_embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def in_stock(self) -> bool:
        """False only for a known stock of 0 (None: not tracked)."""
        return self.stock is None or self.stock > 0


def _product_index_names_fit(sender: type, **kwargs: Any) -> None:
    """A host's product model inherits the HNSW indexes "<app label>_<model>_text_hnsw" and
    "..._image_hnsw"; where that is longer than an index name may be (models.E034 stops
    makemigrations), the name is cut and a hash of the full name keeps it unique and stable."""
    if not issubclass(sender, AbstractProduct) or sender._meta.abstract:
        return
    for index in sender._meta.indexes:
        if index.name and len(index.name) > index.max_name_length:
            digest = hashlib.sha1(index.name.encode()).hexdigest()[:8]
            index.name = f"{index.name[: index.max_name_length - 9]}_{digest}"


class_prepared.connect(_product_index_names_fit)


class Product(AbstractProduct):
    """The default product model, used unless the host sets STYLEREC_PRODUCT_MODEL."""

    class Meta(AbstractProduct.Meta):
        swappable = "STYLEREC_PRODUCT_MODEL"


class Style(models.Model):
    """One entry of the store's style vocabulary ("Retro", "Minimalist", "Light luxury" ...)."""

    name = models.CharField(max_length=80)
    name_zh = models.CharField("name (Chinese)", max_length=80, blank=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True, help_text="English description / prompt text.")
    description_zh = models.TextField("description (Chinese)", blank=True)
    keywords = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated words (zh or en) that name this style."
    )
    reference_image = models.ImageField(upload_to="styles/", blank=True)
    transfer_preset = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Index of a fixed style of the transfer network; else the reference image.",
    )
    transfer_strength = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    preserve_color = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    text_embedding = VectorField(dimensions=TEXT_DIM, null=True, blank=True, editable=False)
    image_prototype = VectorField(dimensions=IMAGE_DIM, null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def keyword_list(self) -> list[str]:
        return [word.strip() for word in self.keywords.split(",") if word.strip()]


class Review(models.Model):
    class Sentiment(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEUTRAL = "neutral", "Neutral"
        NEGATIVE = "negative", "Negative"

    product = models.ForeignKey(PRODUCT_MODEL, on_delete=models.CASCADE, related_name="stylerec_reviews")
    # Deleting an account deletes its reviews (their text is the customer's): kept without an author
    # they would each count as another customer in the product's rating (docs/privacy.md).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stylerec_reviews",
    )
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    title = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    verified_purchase = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    # --- artifacts ---------------------------------------------------------------------------
    language = models.CharField(max_length=8, blank=True, editable=False)
    sentiment_score = models.FloatField(null=True, blank=True, editable=False)
    sentiment_label = models.CharField(max_length=10, choices=Sentiment.choices, blank=True, editable=False)
    sentiment_confidence = models.FloatField(null=True, blank=True, editable=False)
    preferences = models.JSONField(default=list, blank=True, editable=False)  # [{kind,key,polarity}]
    text_embedding = VectorField(dimensions=TEXT_DIM, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="stylerec_review_rating_1_5"
            )
        ]
        indexes = [models.Index(fields=["product", "created_at"])]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title or self.text[:40]}"


class StylePreference(models.Model):
    """How much a customer (or an anonymous session) likes a style, and where that came from."""

    class Source(models.TextChoices):
        EXPLICIT = "explicit", "Chosen by the customer"
        REVIEWS = "reviews", "Inferred from reviews"
        SEARCHES = "searches", "Inferred from searches"
        BEHAVIOUR = "behaviour", "Inferred from behaviour"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="style_preferences",
    )
    session_key = models.CharField(
        "anonymous customer", max_length=40, blank=True, db_index=True, help_text=ANONYMOUS_KEY_HELP
    )
    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="preferences")
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)])
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.EXPLICIT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "style", "source"],
                condition=Q(user__isnull=False),
                name="stylerec_pref_user_unique",
            ),
            models.UniqueConstraint(
                fields=["session_key", "style", "source"],
                condition=Q(user__isnull=True),
                name="stylerec_pref_session_unique",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(session_key=""), name="stylerec_pref_has_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.session_key} likes {self.style} ({self.weight:+.2f}, {self.source})"


class RankingProfile(models.Model):
    """The weights and knobs merchandisers tune. Exactly one profile is active; another may take
    a share of traffic as an A/B challenger. See the README for how fields map to the score."""

    class Formula(models.TextChoices):
        ADDITIVE = "additive", "Weighted sum of all signals"
        GATED = "gated", "(sentiment·w + visual·w) × history cosine, plus the other signals"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    formula = models.CharField(max_length=10, choices=Formula.choices, default=Formula.ADDITIVE)
    # Signal weights.
    w_history = models.FloatField("history similarity", default=1.0)
    w_context = models.FloatField("similar to viewed product", default=0.8)
    w_style = models.FloatField("style match", default=0.6)
    w_visual = models.FloatField("visual similarity", default=0.5)
    w_sentiment = models.FloatField("review sentiment", default=0.3)
    w_collaborative = models.FloatField("collaborative", default=0.7)
    w_popularity = models.FloatField("popularity / trend", default=0.2)
    w_freshness = models.FloatField("freshness", default=0.1)
    # 0 until learned (stylerec_learn_weights): existing stores rank as before.
    w_factor = models.FloatField("matrix factorisation (customers with your taste)", default=0.0)
    w_sequence = models.FloatField("next-item (often bought next)", default=0.0)
    bias = models.FloatField(default=0.0, help_text="Intercept of learned profiles; does not change order.")
    # Rules and diversity.
    mmr_lambda = models.FloatField(
        "MMR λ",
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="1 = pure relevance, lower = more diverse.",
    )
    max_per_category = models.PositiveSmallIntegerField(default=4, help_text="0 = no limit")
    in_stock_only = models.BooleanField(default=True)
    candidate_pool = models.PositiveIntegerField(default=200)
    freshness_half_life_days = models.FloatField(default=30.0)
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            '{"boost": {"product:12": 0.5, "category:Bag": 0.2}, "pin": [12], "block": ["category:Sandal"]}'
        ),
    )
    # A/B: this profile may hand a share of traffic to a challenger.
    challenger = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    challenger_share = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    # Learned profiles record how they were made and what they score.
    metrics = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)  # bumped on save: part of cache keys
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="stylerec_one_active_profile"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.is_active else ''}"


class Interaction(models.Model):
    Kind = InteractionKind  # the kinds and what each says: stylerec.customers

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stylerec_interactions",
    )
    session_key = models.CharField(
        "anonymous customer", max_length=40, blank=True, db_index=True, help_text=ANONYMOUS_KEY_HELP
    )
    product = models.ForeignKey(
        PRODUCT_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="stylerec_interactions"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    query = models.CharField(max_length=500, blank=True)
    block = models.CharField(max_length=40, blank=True, help_text="The recommendation block it came from.")
    profile = models.ForeignKey(
        RankingProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    position = models.PositiveSmallIntegerField(null=True, blank=True)
    # The store's order behind a purchase: purchases come only from the order hook
    # (``services.orders.order_record``), which fills it; empty for every other kind.
    order_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["session_key", "created_at"]),
            models.Index(fields=["product", "kind"]),
            models.Index(fields=["kind", "created_at"]),
            models.Index(fields=["order_id"], condition=~Q(order_id=""), name="stylerec_interaction_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id or self.query!r} by {self.user_id or self.session_key}"


class CustomerProfile(models.Model):
    """A customer's (or session's) taste as vectors in the product spaces, kept up to date from
    interactions and reviews."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stylerec_profile",
    )
    session_key = models.CharField(
        "anonymous customer", max_length=40, blank=True, db_index=True, help_text=ANONYMOUS_KEY_HELP
    )
    text_vector = VectorField(dimensions=TEXT_DIM, null=True, blank=True)
    image_vector = VectorField(dimensions=IMAGE_DIM, null=True, blank=True)
    interaction_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_key"], condition=Q(user__isnull=True), name="stylerec_profile_session_unique"
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(session_key=""), name="stylerec_profile_has_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"profile of {self.user or self.session_key}"


class CustomerLink(models.Model):
    """The pseudonym a customer's session had before they signed in (recorded at sign-in when it
    holds data): the anonymous rows stay anonymous, but are the customer's to export and erase, and
    go when the account is deleted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(
        "anonymous customer", max_length=40, help_text="Pseudonym of the session before sign-in."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "session_key"], name="stylerec_customer_link_unique")
        ]
        indexes = [models.Index(fields=["session_key"])]

    def __str__(self) -> str:
        return f"{self.user_id} was {self.session_key}"


class ArtifactState(models.Model):
    """Bookkeeping for every computed artifact: what made it, from which inputs, and how it went.

    One row per (kind, object): e.g. ("product.image", 42). ``input_hash`` hashes the inputs plus
    the model version, so a task knows whether work is needed and a stale result never overwrites
    a newer one."""

    kind = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=ArtifactStatus.choices, default=ArtifactStatus.PENDING)
    input_hash = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="stylerec_artifact_unique")]
        indexes = [models.Index(fields=["kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind}#{self.object_id}: {self.status}"


class StyledImage(models.Model):
    """A product rendered in a style by neural style transfer, stored at display size."""

    product = models.ForeignKey(PRODUCT_MODEL, on_delete=models.CASCADE, related_name="styled_images")
    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="styled_images")
    image = models.ImageField(upload_to="styled/", blank=True)
    status = models.CharField(max_length=10, choices=ArtifactStatus.choices, default=ArtifactStatus.PENDING)
    input_hash = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "style"], name="stylerec_styled_unique")]

    def __str__(self) -> str:
        return f"{self.product_id} in {self.style}"


class PendingTask(models.Model):
    """A task that could not be sent (the broker was down) and whose work no other row keeps
    pending: written by ``services.queue.task_enqueue`` only when sending failed; the sweep
    (``stylerec.artifacts_sweep``) sends it again and deletes the row. One row per task and
    arguments (``key``), however often sending it failed."""

    name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=64, unique=True)  # sha256 of name, args and kwargs
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} (pending since {self.created_at:%Y-%m-%d %H:%M})"


class CandidatePool(models.Model):
    """A customer's candidates for one block, kept by workers (``services.pools``) so that a page
    view does one short read instead of the HNSW scans (docs/ranking.md, "Candidate pools").

    ``product_ids`` is what generation found, in its order; ``signals`` and ``sources`` hold, per
    candidate, the signals whose inputs are the customer's and cost most to compute (columns
    ``ranking.pools.STORED_SIGNALS``, float32) and the products behind them (``STORED_SOURCES``,
    int64), as raw little-endian arrays. Everything a product may change that must hold at once
    (active, stock, category, reviews, popularity) is read live beside the pool."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    session_key = models.CharField(
        "anonymous customer", max_length=40, blank=True, help_text=ANONYMOUS_KEY_HELP
    )
    block = models.CharField(max_length=40)
    product_ids = ArrayField(models.BigIntegerField(), default=list)
    signals = models.BinaryField(default=b"")
    sources = models.BinaryField(default=b"")
    inputs = models.CharField(max_length=64, blank=True)  # the pool format and the profile it was built under
    built_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "block"], condition=Q(user__isnull=False), name="stylerec_pool_user_unique"
            ),
            models.UniqueConstraint(
                fields=["session_key", "block"],
                condition=Q(user__isnull=True),
                name="stylerec_pool_session_unique",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(session_key=""), name="stylerec_pool_has_owner"
            ),
        ]
        indexes = [models.Index(fields=["built_at"])]

    def __str__(self) -> str:
        return f"{self.block} pool of {self.user_id or self.session_key} ({len(self.product_ids)})"
