"""Admin for every stylerec model. Vector columns are never form fields (pgvector arrays break
admin forms and lists); they are shown read-only as a short summary."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from stylerec.admin_artifacts import ArtifactStatusPageMixin, ProductArtifactsAdminMixin
from stylerec.admin_bursts import BurstsPageMixin
from stylerec.admin_forms import RankingProfileForm
from stylerec.admin_views import (
    RankingProfileCockpitMixin,
    Recommendations,
    RecommendationsAdmin,
    styled_previews_html,
)
from stylerec.models import (
    ArtifactState,
    CustomerProfile,
    Interaction,
    Product,
    RankingProfile,
    Review,
    Style,
    StyledImage,
    StylePreference,
    get_product_model,
)
from stylerec.ranking.types import SIGNALS


def vector_summary(vector) -> str:
    """'1280-d, ‖v‖=1.00, [0.01, -0.03, …]' or '—' when not computed."""
    if vector is None:
        return "—"
    values = list(vector)
    norm = sum(v * v for v in values) ** 0.5
    head = ", ".join(f"{v:+.2f}" for v in values[:4])
    return f"{len(values)}-d, ‖v‖={norm:.2f}, [{head}, …]"


class VectorSummaryMixin:
    """Adds read-only '<field> (summary)' columns for the model's vector fields."""

    vector_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return [
            *super().get_readonly_fields(request, obj),
            *(f"{name}_summary" for name in self.vector_fields),
        ]

    def __getattr__(self, name: str):
        if name.endswith("_summary") and name[: -len("_summary")] in type(self).vector_fields:
            field = name[: -len("_summary")]

            def summary(obj):
                return vector_summary(getattr(obj, field))

            summary.short_description = field.replace("_", " ")  # type: ignore[attr-defined]
            return summary
        raise AttributeError(name)


class ProductAdmin(ProductArtifactsAdminMixin, VectorSummaryMixin, admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "title",
        "category",
        "brand",
        "price",
        "stock",
        "review_count",
        "sentiment_score",
    )
    list_display_links = ("thumbnail", "title")
    list_filter = ("category", "is_active", "brand")
    search_fields = ("title", "description", "brand", "category")
    list_per_page = 50
    vector_fields = ("text_embedding", "image_embedding")
    readonly_fields = (
        "style_scores",
        "sentiment_score",
        "rating_average",
        "review_count",
        "popularity",
        "sales_count",
    )

    @admin.display(description="")
    def thumbnail(self, obj):
        if not obj.image:
            return "—"
        return format_html(
            '<img src="{}" alt="" style="height:40px;width:40px;object-fit:cover">', obj.image.url
        )


if get_product_model() is Product:
    admin.site.register(Product, ProductAdmin)


@admin.register(Style)
class StyleAdmin(VectorSummaryMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "name_zh",
        "slug",
        "transfer_preset",
        "transfer_strength",
        "preserve_color",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "name_zh", "slug", "keywords", "description")
    prepopulated_fields = {"slug": ("name",)}
    vector_fields = ("text_embedding", "image_prototype")
    readonly_fields = ("styled_previews",)  # delivery: products already drawn in this style

    @admin.display(description="styled products")
    def styled_previews(self, obj):
        return styled_previews_html(obj)


@admin.register(Review)
class ReviewAdmin(VectorSummaryMixin, admin.ModelAdmin):
    list_display = (
        "product",
        "user",
        "rating",
        "sentiment_label",
        "sentiment_score",
        "language",
        "verified_purchase",
        "created_at",
    )
    list_filter = ("rating", "sentiment_label", "language", "verified_purchase")
    search_fields = ("title", "text")
    raw_id_fields = ("product", "user")
    vector_fields = ("text_embedding",)
    readonly_fields = (
        "language",
        "sentiment_score",
        "sentiment_label",
        "sentiment_confidence",
        "preferences",
    )


@admin.register(StylePreference)
class StylePreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "session_key", "style", "weight", "source", "updated_at")
    list_filter = ("source", "style")
    search_fields = ("user__username", "session_key")
    raw_id_fields = ("user",)


@admin.register(Interaction)
class InteractionAdmin(BurstsPageMixin, admin.ModelAdmin):  # + "Suspicious bursts" (shilling)
    list_display = ("created_at", "kind", "product", "user", "session_key", "block", "profile", "query")
    list_filter = ("kind", "block", "profile")
    search_fields = ("query", "user__username", "session_key")
    raw_id_fields = ("product", "user")
    date_hierarchy = "created_at"


# The cockpit mixin adds the live preview + A/B. It sets the admin's templates as str class
# attributes; mypy wants a mixin's attribute to have exactly ModelAdmin's (invariant) type.
@admin.register(RankingProfile)
class RankingProfileAdmin(RankingProfileCockpitMixin, admin.ModelAdmin):  # type: ignore[misc]
    list_display = (
        "name",
        "is_active",
        "formula",
        "w_history",
        "w_style",
        "w_visual",
        "w_sentiment",
        "w_collaborative",
        "version",
    )
    list_filter = ("is_active", "formula")
    search_fields = ("name", "description")
    form = RankingProfileForm  # sliders for weights, form fields for the rules (no raw JSON)
    readonly_fields = ("rules_summary", "metrics")
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active", "formula")}),
        (
            "Signal weights",
            {
                "description": "How much each signal counts in the score (0 = ignored, negative = "
                "penalised). Drag a slider or type a number.",
                "fields": tuple(f"w_{signal}" for signal in SIGNALS),
            },
        ),
        (
            "Diversity and stock",
            {
                "fields": ("mmr_lambda", "max_per_category", "in_stock_only"),
                "description": "MMR λ: 1 keeps the score order, lower values trade score for variety.",
            },
        ),
        (
            "Merchandising rules",
            {
                "fields": ("rule_pins", "rule_product_boosts", "rule_blocked_products", "rules_summary"),
                "description": "Per-category boosts, caps and blocks are in the table below.",
            },
        ),
        ("A/B test", {"fields": ("challenger", "challenger_share")}),
        (
            "Advanced",
            {
                "classes": ("collapse",),
                "fields": ("candidate_pool", "freshness_half_life_days", "bias", "metrics"),
            },
        ),
    )

    @admin.display(description="rules as stored")
    def rules_summary(self, obj):
        return format_html("<code>{}</code>", json.dumps(obj.rules or {}, ensure_ascii=False)) if obj else "—"

    # --- evaluation: the latest offline report (stylerec_evaluate), at .../rankingprofile/evaluation/,
    # when the lab app is installed (a store that does not evaluate does not ship the lab).
    def get_urls(self):
        from django.apps import apps
        from django.urls import path

        if not apps.is_installed("stylerec.lab"):
            return super().get_urls()
        from stylerec.lab.evaluation.views import evaluation_report_view

        view = self.admin_site.admin_view(lambda request: evaluation_report_view(self, request))
        return [path("evaluation/", view, name="stylerec_rankingprofile_evaluation"), *super().get_urls()]

    # --- end evaluation


@admin.register(CustomerProfile)
class CustomerProfileAdmin(VectorSummaryMixin, admin.ModelAdmin):
    list_display = ("user", "session_key", "interaction_count", "updated_at")
    search_fields = ("user__username", "session_key")
    raw_id_fields = ("user",)
    vector_fields = ("text_vector", "image_vector")
    exclude = ("text_vector", "image_vector")


@admin.register(ArtifactState)
class ArtifactStateAdmin(ArtifactStatusPageMixin, admin.ModelAdmin):
    list_display = ("kind", "object_id", "status", "model_version", "attempts", "updated_at", "error")
    list_filter = ("kind", "status")
    search_fields = ("object_id", "error", "model_version")


@admin.register(StyledImage)
class StyledImageAdmin(admin.ModelAdmin):
    list_display = ("product", "style", "status", "model_version", "updated_at")
    list_filter = ("status", "style")
    raw_id_fields = ("product",)


# "Recommendations" on the admin index: one page leading to every part of the cockpit. A list,
# because the stand-in is not a model class (AdminSite.register iterates what is not a ModelBase).
admin.site.register([Recommendations], RecommendationsAdmin)  # type: ignore[list-item]
