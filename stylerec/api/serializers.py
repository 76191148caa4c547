"""Input validation and output shapes of the API. Thin: no business logic, writes go through
services (the views call them with ``validated_data``)."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stylerec.conf import stylerec_settings
from stylerec.customers import SERVER_ONLY_KINDS, SERVER_ONLY_MESSAGE
from stylerec.formatting import price_display
from stylerec.models import ArtifactState, Interaction, Review, Style, StyledImage, get_product_model
from stylerec.ranking.types import BLOCKS, SIGNALS
from stylerec.services.artifacts import REASON_CODES, artifact_reason, images_withheld
from stylerec.validators import validate_review_text


def file_url(file: Any, *, request: Any = None) -> str:
    """Absolute URL of an uploaded/generated image ("" when there is none)."""
    if not file:
        return ""
    return request.build_absolute_uri(file.url) if request is not None else file.url


def _max_k() -> int:
    return stylerec_settings.MAX_K


class NoBlankParamsMixin:
    """A query parameter given empty (``?k=``) is a 400 unless its field allows blanks (strings):
    DRF skips an empty optional value as if it were absent, which the schema (an integer, an enum)
    does not say. ``?category=`` stays allowed; ``?k=`` or ``?block=`` are errors."""

    def to_internal_value(self, data: Any) -> Any:
        errors = {
            name: ["This parameter may not be empty; leave it out for the default."]
            for name, field in self.fields.items()  # type: ignore[attr-defined]
            if hasattr(data, "get")
            and name in data
            and str(data.get(name, "")).strip() == ""
            and not getattr(field, "allow_blank", False)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class RecommendationQuerySerializer(NoBlankParamsMixin, serializers.Serializer):
    """Query parameters of ``GET recommendations/``."""

    block = serializers.ChoiceField(choices=BLOCKS, default="for_you")
    product_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    k = serializers.IntegerField(min_value=1, required=False)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate_k(self, value: int) -> int:
        # Read at call time: MAX_K is a setting and may change (override_settings in tests).
        if value > _max_k():
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {_max_k()}.")
        return value

    def validate_product_id(self, value: int) -> int:
        if not get_product_model().objects.filter(pk=value).exists():
            raise serializers.ValidationError("No product with this id.")
        return value


class StaffRecommendationQuerySerializer(RecommendationQuerySerializer):
    """``GET staff/recommendations/``: any customer's list, with the signals explained."""

    user_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    session_key = serializers.CharField(max_length=40, required=False, allow_blank=True)
    profile_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    explain = serializers.BooleanField(default=True)

    def validate_profile_id(self, value: int) -> int:
        from stylerec.models import RankingProfile

        if not RankingProfile.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No ranking profile with this id.")
        return value


def _is_staff(request: Any) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


# Serializer context key: {product pk: why its photo is withheld, "" when it is shown}.
WITHHELD_IMAGES = "stylerec_images_withheld"


def images_withheld_for(context: dict[str, Any], products: list[Any]) -> dict[int, str]:
    """{pk: why its photo is withheld, "" when shown} for ``products`` and any asked before:
    ``services.artifacts.images_withheld``, remembered in the serializer context, so a list of
    products costs one query (``images_withheld_prime``), not one each."""
    known: dict[int, str] = context.setdefault(WITHHELD_IMAGES, {})
    missing = [product for product in products if product.pk not in known]
    if missing:
        images_withheld_prime(context, missing)
    return known


def images_withheld_prime(context: dict[str, Any], products: list[Any]) -> None:
    known: dict[int, str] = context.setdefault(WITHHELD_IMAGES, {})
    found = images_withheld(products)
    known.update({product.pk: found.get(product.pk, "") for product in products})


class ProductListSerializer(serializers.ListSerializer):
    """Products in a list: whose photos are withheld is asked once for the whole page."""

    def to_representation(self, data: Any) -> Any:
        products = list(data.all() if hasattr(data, "all") else data)
        images_withheld_prime(cast("dict[str, Any]", self.context), products)  # the root's, shared
        return super().to_representation(products)


class ProductSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField()
    price_display = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    in_stock = serializers.BooleanField(read_only=True)

    class Meta:
        model = get_product_model()
        fields = [
            "id",
            "title",
            "description",
            "category",
            "brand",
            "price",
            "price_display",
            "stock",
            "in_stock",
            "image",
            "url",
            "rating_average",
            "review_count",
            "sentiment_score",
            "style_scores",
            "created_at",
        ]
        read_only_fields = fields
        list_serializer_class = ProductListSerializer

    @extend_schema_field(
        serializers.URLField(
            allow_null=True,
            help_text="The product photo; null when there is none, or while it is withheld: a file "
            "that failed the image check (quarantined) or a new one not checked yet.",
        )
    )
    def get_image(self, product: Any) -> str | None:
        context = cast("dict[str, Any]", self.context)  # the root serializer's dict, shared by the tree
        if not product.image or images_withheld_for(context, [product]).get(product.pk):
            return None
        return file_url(product.image, request=self.context.get("request"))

    @extend_schema_field(serializers.CharField(help_text='The price as the store writes it, e.g. "$89.00".'))
    def get_price_display(self, product: Any) -> str:
        # ``price`` stays the raw decimal; this is STYLEREC["PRICE_FORMATTER"] in the active language.
        return price_display(product.price)

    @extend_schema_field(serializers.CharField())
    def get_url(self, product: Any) -> str:
        from stylerec.views import product_url_for

        return product_url_for(product)


class ArtifactStateSerializer(serializers.ModelSerializer):
    """An artifact's state. Everyone sees the status and a reason code; the error text (file
    names, limits, library internals) only staff."""

    reason = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = ArtifactState
        fields = ["kind", "status", "reason", "model_version", "attempts", "error", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["", *REASON_CODES],
            help_text="Why it failed, as a code (empty unless the status is failed).",
        )
    )
    def get_reason(self, state: ArtifactState) -> str:
        return artifact_reason(status=state.status, error=state.error)

    @extend_schema_field(
        serializers.CharField(
            allow_blank=True, help_text="Staff only: the error text; empty for everyone else."
        )
    )
    def get_error(self, state: ArtifactState) -> str:
        return state.error if _is_staff(self.context.get("request")) else ""


class StyledImageSerializer(serializers.ModelSerializer):
    # A declared field named "style" is DRF's idiom (the metaclass moves it into _declared_fields);
    # the stubs see it as overriding Field.style, the serializer's render options.
    style: serializers.SlugRelatedField[Style] = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="slug", read_only=True
    )
    image = serializers.SerializerMethodField()

    class Meta:
        model = StyledImage
        fields = ["style", "status", "image", "model_version", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_blank=True))
    def get_image(self, styled: StyledImage) -> str:
        return file_url(styled.image, request=self.context.get("request"))


class ProductDetailSerializer(ProductSerializer):
    """A product with the state of every artifact computed for it."""

    artifacts = serializers.SerializerMethodField()
    styled_images = StyledImageSerializer(many=True, read_only=True)

    class Meta(ProductSerializer.Meta):
        fields = [*ProductSerializer.Meta.fields, "artifacts", "styled_images"]
        read_only_fields = fields

    @extend_schema_field(ArtifactStateSerializer(many=True))
    def get_artifacts(self, product: Any) -> list[dict[str, Any]]:
        # Artifacts of a product are keyed "product.<what>" by the pipeline.
        states = ArtifactState.objects.filter(object_id=product.pk, kind__startswith="product").order_by(
            "kind"
        )
        # many=True makes a ListSerializer, whose .data is a list; the stubs have no overload for it.
        return cast(
            "list[dict[str, Any]]", ArtifactStateSerializer(states, many=True, context=self.context).data
        )


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class AspectNoteSerializer(serializers.Serializer):
    aspect = serializers.CharField(help_text='The aspect the reviews talk about: "fit".')
    verdict = serializers.CharField(help_text='What most of them say: "runs small" or "runs large".')
    reviews = serializers.IntegerField(help_text="How many reviews say so.")
    text = serializers.CharField(help_text='In words, translated: "Fit: runs small (12 reviews)".')


class RecommendedItemSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    score = serializers.FloatField()
    product = ProductSerializer()
    reasons = ReasonSerializer(many=True)
    aspect_note = AspectNoteSerializer(
        allow_null=True,
        help_text="A fit warning when enough of the product's reviews say it runs small or large; "
        "null otherwise.",
    )
    click_url = serializers.CharField(help_text="Link that records the click, then opens the product.")
    contributions = serializers.DictField(
        child=serializers.FloatField(),
        help_text=f"Weighted contribution per signal ({', '.join(SIGNALS)}); "
        "filled for staff requests with explain=1.",
    )


class RecommendationResultSerializer(serializers.Serializer):
    block = serializers.CharField()
    profile_id = serializers.IntegerField(allow_null=True)
    profile_version = serializers.IntegerField(allow_null=True)
    fallback = serializers.CharField(allow_null=True)
    cached = serializers.BooleanField()
    items = RecommendedItemSerializer(many=True)


class EventKindField(serializers.ChoiceField):
    """The kinds a client may post; a purchase gets a message that says where purchases come from."""

    def __init__(self, **kwargs: Any) -> None:
        kinds = [kind for kind in Interaction.Kind.values if kind not in SERVER_ONLY_KINDS]
        super().__init__(choices=kinds, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and data in SERVER_ONLY_KINDS:
            raise serializers.ValidationError(SERVER_ONLY_MESSAGE)
        return super().to_internal_value(data)


class EventSerializer(serializers.Serializer):
    """``POST events/``: something the customer did with a product shown in a block."""

    kind = EventKindField()
    product_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True)
    block = serializers.ChoiceField(choices=["", *BLOCKS], required=False, default="")
    profile_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True)
    position = serializers.IntegerField(min_value=1, max_value=1000, required=False, allow_null=True)
    query = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_product_id(self, value: int | None) -> int | None:
        if value is not None and not get_product_model().objects.filter(pk=value).exists():
            raise serializers.ValidationError("No product with this id.")
        return value

    def validate_profile_id(self, value: int | None) -> int | None:
        from stylerec.models import RankingProfile

        if value is not None and not RankingProfile.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No ranking profile with this id.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == Interaction.Kind.SEARCH:
            if not attrs.get("query", "").strip():
                raise serializers.ValidationError({"query": "A search event needs the query."})
        elif attrs.get("product_id") is None:
            raise serializers.ValidationError({"product_id": f"A {attrs['kind']} event needs a product."})
        return attrs


class EventResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    product_id = serializers.IntegerField(allow_null=True)
    block = serializers.CharField()
    profile_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class StyleWeightSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=80)
    weight = serializers.FloatField(min_value=0.0, max_value=1.0, default=1.0)
    name = serializers.CharField(read_only=True)


class StylePreferencesSerializer(serializers.Serializer):
    """``GET/PUT me/styles/``: the customer's explicit style choices (weight 0..1)."""

    styles = StyleWeightSerializer(many=True)

    def validate_styles(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        slugs = [entry["slug"] for entry in value]
        if len(slugs) != len(set(slugs)):
            raise serializers.ValidationError("Each style may appear once.")
        # Which slugs may be chosen is style_preferences_set's rule (the view turns it into a 400).
        return value


class ReviewSerializer(serializers.ModelSerializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    author = serializers.SerializerMethodField()
    # "" until the pipeline has read the review (the column is blank=True): part of the enum, as
    # it is of the answers.
    sentiment_label = serializers.ChoiceField(
        choices=[("", "Not analysed yet"), *Review.Sentiment.choices],
        read_only=True,
        help_text='Inferred by the sentiment model; "" until the review has been analysed.',
    )

    class Meta:
        model = Review
        fields = [
            "id",
            "rating",
            "title",
            "text",
            "author",
            "verified_purchase",
            "sentiment_label",
            "created_at",
        ]
        read_only_fields = ["id", "author", "verified_purchase", "sentiment_label", "created_at"]

    @extend_schema_field(serializers.CharField())
    def get_author(self, review: Review) -> str:
        user = review.user  # no query when user_id is None: the descriptor returns None at once
        return user.get_username() if user is not None else ""

    def validate_text(self, value: str) -> str:
        try:
            return validate_review_text(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc


# --- privacy: GET me/export/, POST me/erase/ (stylerec.services.privacy) ----------------------

OWNER_HELP = '"account": recorded while signed in; "session": before signing in (or never signed in).'


class VectorSummarySerializer(serializers.Serializer):
    dimensions = serializers.IntegerField()
    norm = serializers.FloatField()


class ExportEventSerializer(serializers.Serializer):
    owner = serializers.ChoiceField(choices=["account", "session"], help_text=OWNER_HELP)
    kind = serializers.CharField()
    product_id = serializers.IntegerField(allow_null=True)
    query = serializers.CharField(allow_blank=True)
    block = serializers.CharField(allow_blank=True)
    position = serializers.IntegerField(allow_null=True)
    order_id = serializers.CharField(allow_blank=True, help_text="The store's order (purchases only).")
    created_at = serializers.DateTimeField()


class ExportStyleSerializer(serializers.Serializer):
    owner = serializers.ChoiceField(choices=["account", "session"], help_text=OWNER_HELP)
    # Declared fields named like Field's attributes (style, source) are DRF's idiom: the metaclass
    # moves them into _declared_fields; the stubs see them as overriding those attributes.
    style = serializers.SlugField()  # type: ignore[assignment]
    name = serializers.CharField()
    weight = serializers.FloatField()
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="explicit (chosen), or inferred from reviews/searches/behaviour"
    )
    inferred = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


class ExportReviewSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    rating = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    verified_purchase = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    language = serializers.CharField(allow_blank=True, help_text="Detected by the pipeline.")
    sentiment_label = serializers.CharField(allow_blank=True, help_text="Inferred by the sentiment model.")
    sentiment_score = serializers.FloatField(allow_null=True)
    preferences = serializers.ListField(
        child=serializers.DictField(), help_text="Styles and aspects the models read in the text."
    )


class ExportProfileSerializer(serializers.Serializer):
    owner = serializers.ChoiceField(choices=["account", "session"], help_text=OWNER_HELP)
    interaction_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    text_vector = VectorSummarySerializer(allow_null=True, help_text="Taste in text space (summarised).")
    image_vector = VectorSummarySerializer(allow_null=True, help_text="Taste in image space (summarised).")


class ExportCustomerSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True)
    anonymous_keys = serializers.ListField(
        child=serializers.CharField(), help_text="Pseudonyms of the customer's anonymous sessions."
    )


class CustomerExportSerializer(serializers.Serializer):
    """``GET me/export/``: everything stylerec holds about the customer making the request."""

    generated_at = serializers.DateTimeField()
    customer = ExportCustomerSerializer()
    event_retention_days = serializers.IntegerField(
        allow_null=True, help_text="Events older than this are deleted; null: kept."
    )
    events = ExportEventSerializer(many=True)
    styles = ExportStyleSerializer(many=True)
    style_weights = serializers.DictField(
        child=serializers.FloatField(), help_text="{style: weight} as the ranker derives it from the above."
    )
    reviews = ExportReviewSerializer(many=True)
    profiles = ExportProfileSerializer(many=True)


class CustomerErasureSerializer(serializers.Serializer):
    """``POST me/erase/``: what was deleted, and the products whose rating was recomputed."""

    erased = serializers.DictField(child=serializers.IntegerField(), help_text="{table: rows deleted}")
    products_recomputed = serializers.ListField(child=serializers.IntegerField())
