"""Input validation and output shapes of the API. Thin: no business logic, writes go through
services (the views call them with ``validated_data``)."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stylerec.conf import stylerec_settings
from stylerec.models import ArtifactState, Interaction, Review, Style, StyledImage, get_product_model
from stylerec.ranking.types import BLOCKS, SIGNALS
from stylerec.validators import validate_review_text


def file_url(file: Any, *, request: Any = None) -> str:
    """Absolute URL of an uploaded/generated image ("" when there is none)."""
    if not file:
        return ""
    return request.build_absolute_uri(file.url) if request is not None else file.url


def _max_k() -> int:
    return stylerec_settings.MAX_K


class RecommendationQuerySerializer(serializers.Serializer):
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


class ProductSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField()
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

    @extend_schema_field(serializers.URLField(allow_blank=True))
    def get_image(self, product: Any) -> str:
        return file_url(product.image, request=self.context.get("request"))

    @extend_schema_field(serializers.CharField())
    def get_url(self, product: Any) -> str:
        from stylerec.views import product_url_for

        return product_url_for(product)


class ArtifactStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ArtifactState
        fields = ["kind", "status", "model_version", "attempts", "error", "updated_at"]
        read_only_fields = fields


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
        return cast("list[dict[str, Any]]", ArtifactStateSerializer(states, many=True).data)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class RecommendedItemSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    score = serializers.FloatField()
    product = ProductSerializer()
    reasons = ReasonSerializer(many=True)
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


class EventSerializer(serializers.Serializer):
    """``POST events/``: something the customer did with a product shown in a block."""

    kind = serializers.ChoiceField(choices=Interaction.Kind.values)
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
