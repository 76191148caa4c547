"""API views: parse with a serializer, call a selector or a service, serialize the answer.

The customer is always ``request.user`` (session or token) or, anonymous, the session; only the
staff endpoint takes a ``user_id``."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from stylerec.api.permissions import IsStaff, ReadAnyoneWriteSignedIn
from stylerec.api.schema import SchemaMixin, extend_schema
from stylerec.api.serializers import (
    CustomerErasureSerializer,
    CustomerExportSerializer,
    EventResultSerializer,
    EventSerializer,
    ProductDetailSerializer,
    ProductSerializer,
    RecommendationQuerySerializer,
    RecommendationResultSerializer,
    ReviewSerializer,
    StaffRecommendationQuerySerializer,
    StylePreferencesSerializer,
    images_withheld_prime,
)
from stylerec.api.throttling import StylerecScopedRateThrottle, ThrottleMessageMixin
from stylerec.conf import stylerec_settings
from stylerec.customers import Owner, session_customer_key_retire
from stylerec.models import StylePreference, get_product_model
from stylerec.ranking.types import BLOCKS, RecommendationRequest, RecommendationResult
from stylerec.views import click_url_for, customer_keys_of, customer_of


def result_data(result: RecommendationResult, *, context: dict[str, Any]) -> dict[str, Any]:
    """A ``RecommendationResult`` as the API's JSON (shape: ``RecommendationResultSerializer``)."""
    items = []
    for position, item in enumerate(result.items, start=1):
        click = click_url_for(
            block=result.block, product_id=item.product.pk, position=position, profile_id=result.profile_id
        )
        items.append(
            {
                "position": position,
                "score": item.score,
                "product": item.product,
                "reasons": [{"code": r.code, "text": r.text} for r in item.reasons],
                "aspect_note": item.aspect_note,
                "click_url": click,
                "contributions": item.contributions,
            }
        )
    # Whose photos are withheld (quarantined or not checked yet), for all items in one query.
    images_withheld_prime(context, [item.product for item in result.items])
    payload = {
        "block": result.block,
        "profile_id": result.profile_id,
        "profile_version": result.profile_version,
        "fallback": result.fallback,
        "cached": result.cached,
        "items": items,
    }
    return RecommendationResultSerializer(payload, context=context).data


def _recommend(request: RecommendationRequest, *, context: dict[str, Any]) -> Response:
    from stylerec.selectors import recommendations_rendered

    http = context["request"]
    # The JSON is cached beside the result: its URLs are absolute, so per scheme and host.
    data, cached = recommendations_rendered(
        request,
        rendition=f"api:{http.scheme}://{http.get_host()}",
        render=lambda result: dict(result_data(result, context=context)),
    )
    return Response({**data, "cached": cached})


# As the query serializers validate them; an integer or enum parameter given empty (?k=) is a 400.
# k's maximum is MAX_K, filled in when the schema is generated (stylerec.api.schema).
ID_PARAM = {"type": "integer", "minimum": 1, "maximum": 2**62}
_EMPTY_IS_400 = " Leave it out for the default; given empty it is a 400."
_RECOMMENDATION_PARAMS = [
    OpenApiParameter(
        "block", OpenApiTypes.STR, enum=list(BLOCKS), description="Default for_you." + _EMPTY_IS_400
    ),
    OpenApiParameter("product_id", ID_PARAM, description="The product being viewed (context)."),
    OpenApiParameter(
        "k",
        {"type": "integer", "minimum": 1},
        description="How many items (1..MAX_K; default DEFAULT_K)." + _EMPTY_IS_400,
    ),
    OpenApiParameter(
        "category", {"type": "string", "maxLength": 100}, description="Only this category (empty: all)."
    ),
]


class RecommendationsView(SchemaMixin, APIView):
    """The signed-in customer's (or the anonymous session's) recommendations for one block."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=_RECOMMENDATION_PARAMS, responses=RecommendationResultSerializer)
    def get(self, request: Request) -> Response:
        query = RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        user, session_key = customer_of(request)
        return _recommend(
            RecommendationRequest(
                block=data["block"],
                user_id=user.pk if user is not None else None,
                session_key=session_key if user is None else "",
                product_id=data.get("product_id"),
                k=data.get("k", stylerec_settings.DEFAULT_K),
                category=data.get("category") or None,
            ),
            context={"request": request},
        )


class StaffRecommendationsView(SchemaMixin, APIView):
    """Staff only: any customer's recommendations, with per-signal contributions."""

    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[
            *_RECOMMENDATION_PARAMS,
            OpenApiParameter("user_id", ID_PARAM, description="The customer (omit for anonymous)."),
            OpenApiParameter(
                "session_key",
                {"type": "string", "maxLength": 40},
                description="An anonymous customer instead: their pseudonym, as the admin shows it.",
            ),
            OpenApiParameter("profile_id", ID_PARAM, description="Force a ranking profile."),
            OpenApiParameter("explain", OpenApiTypes.BOOL, description="Fill contributions (default true)."),
        ],
        responses=RecommendationResultSerializer,
    )
    def get(self, request: Request) -> Response:
        query = StaffRecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return _recommend(
            RecommendationRequest(
                block=data["block"],
                user_id=data.get("user_id"),
                session_key=data.get("session_key", ""),
                product_id=data.get("product_id"),
                k=data.get("k", stylerec_settings.DEFAULT_K),
                category=data.get("category") or None,
                profile_id=data.get("profile_id"),
                explain=data["explain"],
            ),
            context={"request": request},
        )


class EventCreateView(SchemaMixin, ThrottleMessageMixin, APIView):
    """Record an event (impression, view, click, add to cart, search) for the current customer.
    Purchases are not events: the store records them with ``services.orders.order_record``."""

    permission_classes = [AllowAny]
    throttle_classes = [StylerecScopedRateThrottle]
    throttle_scope = "stylerec.events"

    @extend_schema(request=EventSerializer, responses={201: EventResultSerializer})
    def post(self, request: Request) -> Response:
        from stylerec.services.events import interaction_record

        event = EventSerializer(data=request.data)
        event.is_valid(raise_exception=True)
        user, session_key = customer_of(request, create_session=True)
        interaction = interaction_record(user=user, session_key=session_key, **event.validated_data)
        return Response(
            EventResultSerializer(
                {
                    "id": interaction.pk,
                    "kind": interaction.kind,
                    "product_id": interaction.product_id,
                    "block": interaction.block,
                    "profile_id": interaction.profile_id,
                    "created_at": interaction.created_at,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )


class MyStylesView(SchemaMixin, APIView):
    """The current customer's explicit style preferences (anonymous visitors: their session's)."""

    permission_classes = [AllowAny]

    def _owner(self, request: Request, *, create_session: bool) -> Owner | None:
        owner = Owner.of(*customer_of(request, create_session=create_session))
        return owner if owner.known else None

    def _data(self, owner: Owner | None) -> dict[str, Any]:
        preferences = (
            StylePreference.objects.filter(owner.q(), source=StylePreference.Source.EXPLICIT)
            .select_related("style")
            .order_by("-weight", "style__name")
            if owner
            else []
        )
        return {
            "styles": [{"slug": p.style.slug, "name": p.style.name, "weight": p.weight} for p in preferences]
        }

    @extend_schema(responses=StylePreferencesSerializer)
    def get(self, request: Request) -> Response:
        return Response(
            StylePreferencesSerializer(self._data(self._owner(request, create_session=False))).data
        )

    @extend_schema(request=StylePreferencesSerializer, responses=StylePreferencesSerializer)
    def put(self, request: Request) -> Response:
        from stylerec.services.preferences import UnknownStyles, style_preferences_set

        chosen = StylePreferencesSerializer(data=request.data)
        chosen.is_valid(raise_exception=True)
        owner = self._owner(request, create_session=True)
        assert owner is not None  # create_session guarantees a session key
        weights = {entry["slug"]: entry["weight"] for entry in chosen.validated_data["styles"]}
        try:  # PUT replaces: the service drops every style left out
            style_preferences_set(owner=owner, weights=weights)
        except UnknownStyles as exc:
            raise ValidationError({"styles": [str(exc)]}) from exc
        return Response(StylePreferencesSerializer(self._data(owner)).data)


class MyDataExportView(SchemaMixin, APIView):
    """Everything stylerec holds about the current customer (anonymous visitors: their session's):
    events, style preferences, reviews, profiles and the preferences derived from them."""

    permission_classes = [AllowAny]

    @extend_schema(responses=CustomerExportSerializer)
    def get(self, request: Request) -> Response:
        from stylerec.services.privacy import customer_export

        user, keys = customer_keys_of(request)
        data = customer_export(user_id=user.pk if user is not None else None, session_keys=keys)
        return Response(CustomerExportSerializer(data).data)


class MyDataEraseView(SchemaMixin, APIView):
    """Erase everything stylerec holds about the current customer, what they did before signing
    in included, and recompute the ratings of the products they reviewed. The account stays."""

    permission_classes = [AllowAny]

    @extend_schema(request=None, responses=CustomerErasureSerializer)
    def post(self, request: Request) -> Response:
        from stylerec.services.privacy import customer_erase

        user, keys = customer_keys_of(request)
        result = customer_erase(user_id=user.pk if user is not None else None, session_keys=keys)
        session_customer_key_retire(getattr(request, "session", None))
        return Response(CustomerErasureSerializer(result).data)


class ProductListView(SchemaMixin, generics.ListAPIView):
    serializer_class = ProductSerializer
    permission_classes = [AllowAny]

    def get_queryset(self):
        return get_product_model().objects.filter(is_active=True).order_by("id")


class ProductDetailView(SchemaMixin, generics.RetrieveAPIView):
    """A product with its artifact states (embeddings, styles, sentiment) and styled images."""

    serializer_class = ProductDetailSerializer
    permission_classes = [AllowAny]

    def get_queryset(self):
        return get_product_model().objects.filter(is_active=True).prefetch_related("styled_images__style")


class ProductReviewsView(SchemaMixin, ThrottleMessageMixin, generics.ListCreateAPIView):
    """Reviews of one product; signed-in customers add one (rating 1-5, non-empty text)."""

    serializer_class = ReviewSerializer
    permission_classes = [ReadAnyoneWriteSignedIn]
    throttle_classes = [StylerecScopedRateThrottle]
    throttle_scope = "stylerec.reviews"

    def _product(self):
        return get_object_or_404(get_product_model(), pk=self.kwargs["pk"], is_active=True)

    def get_queryset(self):
        return self._product().stylerec_reviews.select_related("user").order_by("-created_at")

    def perform_create(self, serializer: BaseSerializer) -> None:  # a ReviewSerializer
        from stylerec.services.reviews import review_create

        data = serializer.validated_data
        serializer.instance = review_create(
            product=self._product(),
            user=self.request.user,
            rating=data["rating"],
            text=data["text"],
            title=data.get("title", ""),
        )
