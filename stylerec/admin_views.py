"""The merchandiser's cockpit in the admin: a live preview of a RankingProfile (saved vs the
unsaved form, side by side, with per-signal contributions) and an A/B dashboard (impressions,
CTR, add-to-cart and conversion per profile and block over a period, with an inline SVG plot).

``RankingProfileCockpitMixin`` adds both to ``RankingProfileAdmin``; the views only read, the
ranking itself is the same code that serves customers."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from stylerec.conf import stylerec_settings
from stylerec.customers import AB_KINDS
from stylerec.models import Interaction, RankingProfile, StyledImage, get_product_model
from stylerec.ranking.rules import rules_parse
from stylerec.ranking.types import BLOCKS, SIGNALS, RecommendationRequest, RecommendationResult

# --- live preview ----------------------------------------------------------------------------


class PreviewForm(forms.Form):
    """Who and what to preview for. Field names are prefixed so they never collide with the
    profile's own fields in the change form they live in."""

    preview_customer = forms.CharField(
        label="Customer", required=False, max_length=150, help_text="Username or user id; empty = anonymous."
    )
    preview_product = forms.IntegerField(
        label="Viewed product id", required=False, min_value=1, max_value=2**62
    )
    preview_block = forms.ChoiceField(label="Block", choices=[(b, b) for b in BLOCKS], initial="for_you")
    preview_k = forms.IntegerField(label="K", min_value=1, initial=10, required=False)

    def clean_preview_customer(self) -> Any:
        value = self.cleaned_data["preview_customer"].strip()
        if not value:
            return None
        users = get_user_model()._default_manager
        user = users.filter(**{users.model.USERNAME_FIELD: value}).first()
        if user is None and value.isdigit():
            user = users.filter(pk=int(value)).first()
        if user is None:
            raise forms.ValidationError("No customer with this username or id.")
        return user

    def clean_preview_product(self) -> int | None:
        value = self.cleaned_data["preview_product"]
        if value is not None and not get_product_model().objects.filter(pk=value).exists():
            raise forms.ValidationError("No product with this id.")
        return value

    def clean_preview_k(self) -> int:
        return min(self.cleaned_data["preview_k"] or 10, stylerec_settings.MAX_K)

    def ranking_request(self) -> RecommendationRequest:
        data = self.cleaned_data
        return RecommendationRequest(
            block=data["preview_block"],
            user_id=data["preview_customer"].pk if data["preview_customer"] else None,
            product_id=data["preview_product"],
            k=data["preview_k"],
            explain=True,
        )


def ranked_with_profile(request: RecommendationRequest, profile: RankingProfile) -> RecommendationResult:
    """Rank ``request`` under ``profile``, saved or not, without touching the serving cache.

    An unsaved profile (the form's edits) cannot be named by ``profile_id``, so the engine takes
    the instance itself; the result is the exact list customers would get under it."""
    from stylerec.ranking.engine import recommend

    return recommend(dataclasses.replace(request, explain=True), profile=profile)


def score_order_positions(request: RecommendationRequest, profile: RankingProfile) -> dict[int, int]:
    """Where each product stands on score alone: the same ranking with MMR off (λ = 1) and no
    category caps, deeper than the block (so a product MMR pulled up still has a rank).
    Product id -> 1-based position; pins stay first, as they do in the block."""
    plain = copy.copy(profile)
    plain.mmr_lambda, plain.max_per_category = 1.0, 0
    plain.rules = {key: value for key, value in (profile.rules or {}).items() if key != "cap"}
    depth = min(max(4 * request.k, 20), int(stylerec_settings.MAX_K))
    ranked = ranked_with_profile(dataclasses.replace(request, k=depth), plain)
    return {item.product.pk: position for position, item in enumerate(ranked.items, start=1)}


def _admin_change_url(obj: Any) -> str:
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:  # the host did not register its product model in the admin
        return ""


def _image_url(product: Any) -> str:
    image = getattr(product, "image", None)
    try:
        return image.url if image else ""
    except ValueError:  # a storage without URLs
        return ""


def _preview_rows(
    result: RecommendationResult,
    *,
    before_positions: dict[int, int] | None,
    score_positions: dict[int, int] | None = None,
) -> list[dict]:
    rows = []
    for position, item in enumerate(result.items, start=1):
        pk = item.product.pk
        moved = None
        if before_positions is not None:
            moved = "new" if pk not in before_positions else before_positions[pk] - position
        rows.append(
            {
                "position": position,
                "product": item.product,
                "image_url": _image_url(item.product),
                "admin_url": _admin_change_url(item.product),
                "score_rank": (score_positions or {}).get(pk),
                "score": item.score,
                "reason": item.reasons[0].text if item.reasons else "",
                "aspect_note": item.aspect_note.text if item.aspect_note else "",  # as the card shows it
                "contributions": [(name, item.contributions.get(name, 0.0)) for name in SIGNALS],
                "moved": moved,
            }
        )
    return rows


def preview_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """POST the change form (plus the preview_* fields): the saved profile's list ("before") and
    the form's unsaved profile ("after"), side by side. Answers an HTML fragment."""
    if request.method != "POST":
        return HttpResponse("POST the change form here.", status=405)
    saved = None
    object_id = request.POST.get("preview_profile_id", "")
    if object_id.isdigit():
        saved = RankingProfile.objects.filter(pk=int(object_id)).first()
    if not (model_admin.has_view_permission(request, saved)):
        raise PermissionDenied
    preview = PreviewForm(request.POST)
    form_class = model_admin.get_form(request, saved, change=saved is not None)
    # The form edits a copy: the preview must never change the saved row.
    profile_form = form_class(request.POST, instance=copy.copy(saved) if saved else RankingProfile())
    context: dict[str, Any] = {"preview": preview, "profile_form": profile_form, "signals": SIGNALS}
    if preview.is_valid() and profile_form.is_valid():
        edited = profile_form.save(commit=False)
        from stylerec.ranking.profiles import profile_active

        baseline = saved or profile_active()
        ranking = preview.ranking_request()
        before = ranked_with_profile(ranking, baseline)
        after = ranked_with_profile(ranking, edited)
        before_positions = {item.product.pk: pos for pos, item in enumerate(before.items, start=1)}
        score_order = score_order_positions(ranking, edited)
        context.update(
            before=_preview_rows(before, before_positions=None),
            after=_preview_rows(after, before_positions=before_positions, score_positions=score_order),
            score_order_depth=len(score_order),
            edited=edited,
            category_caps=rules_parse(edited.rules).category_caps,
            before_label=f"Saved: {baseline.name}"
            if baseline.pk
            else "Default weights (no profile is active)",
            before_fallback=before.fallback,
            after_fallback=after.fallback,
            ranking=ranking,
            customer=preview.cleaned_data["preview_customer"],
        )
    return TemplateResponse(request, "stylerec/admin/preview_results.html", context)


# --- A/B dashboard ---------------------------------------------------------------------------


class PeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    block = forms.ChoiceField(choices=[("", "all blocks"), *[(b, b) for b in BLOCKS]], required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns; its stub allows None for overrides
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The period must start before it ends.")
        return data


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a rate: honest error bars even for small counts."""
    if trials <= 0:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


KINDS = AB_KINDS


def ab_table(*, start: dt.date, end: dt.date, block: str = "") -> dict[str, Any]:
    """Counts and rates per (profile, block) and per profile over [start, end] (whole days, UTC).

    Rates are per impression, so arms that showed blocks a different number of times compare
    fairly: CTR = clicks / impressions, cart rate = carts / impressions, conversion = purchases /
    impressions (events carry the block and profile they came from)."""
    events = _events(start=start, end=end, block=block)
    counts = events.values("profile_id", "block", "kind").annotate(n=Count("id"))
    per_cell: dict[tuple[int | None, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    per_profile: dict[int | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for row in counts:
        per_cell[(row["profile_id"], row["block"])][row["kind"]] += row["n"]
        per_profile[row["profile_id"]][row["kind"]] += row["n"]
    names: dict[int | None, str] = dict(
        RankingProfile.objects.filter(pk__in=[p for p in per_profile if p]).values_list("pk", "name")
    )

    def line(profile_id: int | None, block_name: str, c: dict[str, int]) -> dict[str, Any]:
        impressions = c[Interaction.Kind.IMPRESSION]
        return {
            "profile_id": profile_id,
            "profile": names.get(profile_id, "(no profile)") if profile_id else "(no profile)",
            "block": block_name,
            "impressions": impressions,
            "clicks": c[Interaction.Kind.CLICK],
            "carts": c[Interaction.Kind.CART],
            "purchases": c[Interaction.Kind.PURCHASE],
            "ctr": _rate(c[Interaction.Kind.CLICK], impressions),
            "ctr_interval": wilson_interval(c[Interaction.Kind.CLICK], impressions),
            "cart_rate": _rate(c[Interaction.Kind.CART], impressions),
            "conversion": _rate(c[Interaction.Kind.PURCHASE], impressions),
        }

    def order(key: tuple[int | None, str]) -> tuple[str, str]:
        return (names.get(key[0], "~"), key[1])

    return {
        "cells": [line(p, b or "(none)", per_cell[(p, b)]) for p, b in sorted(per_cell, key=order)],
        "profiles": [
            line(p, "all", per_profile[p]) for p in sorted(per_profile, key=lambda p: names.get(p, "~"))
        ],
    }


def _events(*, start: dt.date, end: dt.date, block: str = ""):
    tz = dt.UTC
    since = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    events = Interaction.objects.filter(created_at__gte=since, created_at__lt=until, kind__in=KINDS)
    return events.filter(block=block) if block else events.exclude(block="")


def daily_ctr(
    *, start: dt.date, end: dt.date, block: str = ""
) -> dict[str, list[tuple[dt.date, float | None]]]:
    """CTR per day for each profile (None on days without impressions)."""
    rows = (
        _events(start=start, end=end, block=block)
        .filter(kind__in=[Interaction.Kind.IMPRESSION, Interaction.Kind.CLICK])
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("profile_id", "day", "kind")
        .annotate(n=Count("id"))
    )
    counts: dict[int | None, dict[dt.date, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for row in rows:
        counts[row["profile_id"]][row["day"]][row["kind"]] += row["n"]
    names = dict(RankingProfile.objects.filter(pk__in=[p for p in counts if p]).values_list("pk", "name"))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    series = {}
    for profile_id, by_day in counts.items():
        label = names.get(profile_id, "(no profile)") if profile_id else "(no profile)"
        series[label] = [
            (day, _rate(by_day[day][Interaction.Kind.CLICK], by_day[day][Interaction.Kind.IMPRESSION]))
            for day in days
        ]
    return series


PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def svg_line_chart(
    series: dict[str, list[tuple[dt.date, float | None]]],
    *,
    width: int = 860,
    height: int = 240,
    title: str = "CTR per day",
) -> SafeString:
    """An inline SVG line chart (no JavaScript, no CDN). Days without data leave a gap."""
    left, right, top, bottom = 48, 260, 24, 32  # room on the right for profile names
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for points in series.values() for _, v in points if v is not None]
    if not values:
        return mark_safe('<p class="stylerec-empty">No impressions in this period.</p>')
    y_max = max(values) * 1.1 or 1.0
    n_days = max(len(points) for points in series.values())

    def x(i: int) -> float:
        return left + (plot_w * i / max(n_days - 1, 1))

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    parts = [
        format_html('<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>', left, title),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>',
            left,
            top + plot_h,
            left + plot_w,
            top + plot_h,
        ),
        format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>', left, top, left, top + plot_h),
    ]
    for frac in (0.0, 0.5, 1.0):
        value = y_max * frac
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="10" text-anchor="end">{}%</text>',
                left - 4,
                f"{y(value) + 3:.1f}",
                f"{value * 100:.1f}",
            )
        )
    first_points = next(iter(series.values()))
    for i in sorted({0, len(first_points) - 1}):
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
                f"{x(i):.1f}",
                height - 10,
                first_points[i][0].isoformat(),
            )
        )
    for index, (label, points) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for i, (_, rate) in enumerate(points):
            if rate is None:
                segments.append([])
                continue
            segments[-1].append(f"{x(i):.1f},{y(rate):.1f}")
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(format_html('<circle cx="{}" cy="{}" r="3" fill="{}"/>', cx, cy, colour))
            elif segment:
                parts.append(
                    format_html(
                        '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                        colour,
                        " ".join(segment),
                    )
                )
        legend_y = top + 14 * index + 8
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>',
                left + plot_w + 12,
                legend_y - 9,
                colour,
            )
        )
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" class="legend">{}</text>',
                left + plot_w + 26,
                legend_y,
                label,
            )
        )
    body = format_html_join("", "{}", ((part,) for part in parts))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="stylerec-chart" width="{}" height="{}"'
        ' viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        width,
        height,
        width,
        height,
        title,
        body,
    )


def ab_verdict(rows: list[dict[str, Any]], active: RankingProfile | None) -> dict[str, Any] | None:
    """Challenger vs active profile on CTR: the difference in percentage points with its 95%
    interval (normal approximation of two independent proportions) and whether it excludes 0."""
    if active is None or not active.challenger_id:
        return None
    by_id = {row["profile_id"]: row for row in rows}
    control, challenger = by_id.get(active.pk), by_id.get(active.challenger_id)
    if not control or not challenger or not control["impressions"] or not challenger["impressions"]:
        return None
    p1, n1 = control["ctr"], control["impressions"]
    p2, n2 = challenger["ctr"], challenger["impressions"]
    half = 1.96 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    low, high = p2 - p1 - half, p2 - p1 + half
    return {
        "control": control,
        "challenger": challenger,
        "difference": (p2 - p1) * 100,
        "interval": (low * 100, high * 100),
        "significant": low > 0 or high < 0,
        "better": p2 > p1,
    }


def ab_dashboard_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    today = timezone.now().date()
    initial: dict[str, Any] = {"start": today - dt.timedelta(days=13), "end": today, "block": ""}
    form = PeriodForm(request.GET or None, initial=initial)
    period = form.cleaned_data if form.is_bound and form.is_valid() else initial
    table = ab_table(start=period["start"], end=period["end"], block=period.get("block", ""))
    chart = svg_line_chart(daily_ctr(start=period["start"], end=period["end"], block=period.get("block", "")))
    active = RankingProfile.objects.filter(is_active=True).select_related("challenger").first()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "A/B dashboard",
        "form": form,
        "period": period,
        "table": table,
        "chart": chart,
        "active": active,
        "verdict": ab_verdict(table["profiles"], active),
    }
    return TemplateResponse(request, "stylerec/admin/ab_dashboard.html", context)


# --- wiring ----------------------------------------------------------------------------------


class RankingProfileCockpitMixin:
    """Adds the live preview (on the change/add page) and the A/B dashboard to the profile admin."""

    change_form_template = "stylerec/admin/rankingprofile_change_form.html"
    change_list_template = "stylerec/admin/rankingprofile_change_list.html"

    def get_urls(self):
        opts = self.model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        site = self.admin_site
        return [
            path("preview/", site.admin_view(lambda r: preview_view(self, r)), name=f"{prefix}_preview"),
            path("ab/", site.admin_view(lambda r: ab_dashboard_view(self, r)), name=f"{prefix}_ab"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["preview_form"] = PreviewForm()
        opts = self.model._meta
        context["preview_url"] = reverse(f"admin:{opts.app_label}_{opts.model_name}_preview")
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )


# --- the "Recommendations" page: one place that leads to every part of the cockpit --------------


class _RecommendationsMeta:
    """Just what Django's admin reads from a model's ``_meta`` to list it on the index, the app
    page and the sidebar, and to check its ModelAdmin. The page is a page, not a model: a stand-in
    (the pattern django-constance uses for its settings page) puts it in the admin's own lists
    without a table or a migration."""

    app_label = "stylerec"
    model_name = "recommendations"
    object_name = "Recommendations"
    verbose_name = verbose_name_plural = "Recommendations"
    abstract = swapped = is_composite_pk = False
    label, label_lower = "stylerec.Recommendations", "stylerec.recommendations"

    @property
    def app_config(self) -> Any:
        from django.apps import apps

        return apps.get_app_config(self.app_label)


class Recommendations:
    """The stand-in registered with the admin site (see ``_RecommendationsMeta``)."""

    _meta = _RecommendationsMeta()


class RecommendationsAdmin(admin.ModelAdmin):
    """One page, "Recommendations", linking ranking profiles, the live preview, the A/B results,
    artifact status and (with the lab app) the evaluation report. Staff who may view ranking
    profiles may see it; it changes nothing."""

    actions = None

    def _may_view(self, request: HttpRequest) -> bool:
        meta = RankingProfile._meta
        user: Any = request.user
        return bool(
            user.is_active and user.is_staff and user.has_perm(f"{meta.app_label}.view_{meta.model_name}")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.recommendations_view)
        return [path("", view, name="stylerec_recommendations_changelist")]

    def recommendations_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_view(request):
            raise PermissionDenied
        from django.apps import apps

        from stylerec.admin_artifacts import artifact_status_rows

        site = self.admin_site.name
        active = RankingProfile.objects.filter(is_active=True).select_related("challenger").first()
        today = timezone.now().date()
        table = ab_table(start=today - dt.timedelta(days=13), end=today)
        rows = artifact_status_rows()
        context = {
            **self.admin_site.each_context(request),
            "title": "Recommendations",
            "opts": RankingProfile._meta,
            "active": active,
            "profiles": RankingProfile.objects.count(),
            "profiles_url": reverse(f"{site}:stylerec_rankingprofile_changelist"),
            "preview_url": (
                reverse(f"{site}:stylerec_rankingprofile_change", args=[active.pk]) + "#stylerec-preview"
                if active
                else reverse(f"{site}:stylerec_rankingprofile_add") + "#stylerec-preview"
            ),
            "ab_url": reverse(f"{site}:stylerec_rankingprofile_ab"),
            "verdict": ab_verdict(table["profiles"], active),
            "artifacts_url": reverse(f"{site}:stylerec_artifactstate_status"),
            "artifacts_failed": sum(row["failed"] for row in rows),
            "artifacts_waiting": sum(row["pending"] + row["stale"] + row["missing"] for row in rows),
            "evaluation_url": (
                reverse(f"{site}:stylerec_rankingprofile_evaluation")
                if apps.is_installed("stylerec.lab")
                else ""
            ),
        }
        return TemplateResponse(request, "stylerec/admin/recommendations.html", context)


def styled_previews_html(style: Any, *, limit: int = 6) -> SafeString:
    """The style's reference image and thumbnails of a few products already drawn in it."""
    if style is None or style.pk is None:
        return mark_safe("—")
    ready = StyledImage.objects.filter(style=style, status="ready").exclude(image="")
    ready = ready.select_related("product").order_by("-updated_at")[:limit]
    figures = [(styled.image.url, styled.product.title[:30]) for styled in ready]
    if style.reference_image:
        figures.insert(0, (style.reference_image.url, "reference image"))
    if not figures:
        return mark_safe("No styled images yet: they are made for best sellers and on demand.")
    return format_html_join(
        "",
        '<figure style="display:inline-block;margin:0 8px 8px 0;text-align:center">'
        '<img src="{}" alt="" style="height:96px;width:96px;object-fit:cover;border-radius:4px">'
        '<figcaption style="font-size:11px;max-width:96px">{}</figcaption></figure>',
        figures,
    )
