"""The ranking profile's form for people who are not programmers: every weight is a slider with
its number beside it, bounded and validated on the server (``scoring.WEIGHT_BOUNDS``), and the
merchandising rules are form fields (pins, product boosts and blocks, and one row per category
with its boost, cap and block) that round-trip to ``RankingProfile.rules``, never raw JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from stylerec.models import RankingProfile, get_product_model
from stylerec.ranking.rules import rules_parse
from stylerec.ranking.scoring import BIAS_BOUNDS, WEIGHT_BOUNDS
from stylerec.ranking.types import SIGNALS

# (min, max, step) of every bounded number on the form. Weights share WEIGHT_BOUNDS with the fuse.
SLIDERS: dict[str, tuple[float, float, float]] = {
    **{f"w_{signal}": (*WEIGHT_BOUNDS, 0.05) for signal in SIGNALS},
    "bias": (*BIAS_BOUNDS, 0.1),
    "mmr_lambda": (0.0, 1.0, 0.05),
    "challenger_share": (0.0, 1.0, 0.05),
}
NUMBERS: dict[str, tuple[float, float]] = {  # bounded, typed as numbers (no slider)
    "max_per_category": (0, 50),
    "candidate_pool": (20, 5000),
    "freshness_half_life_days": (1, 3650),
}
CATEGORY_ROWS_MAX = 200  # a store with more categories edits the others' rules per product
RULE_BOOST_BOUNDS = WEIGHT_BOUNDS  # rules_parse clamps boosts to the same range


class SliderInput(forms.NumberInput):
    """A number box and a range slider for the same value. Only the number box has the field's
    name, so the form posts (and validates) exactly what it shows; a few lines of JavaScript
    (``stylerec/admin_cockpit.js``) keep the two in step."""

    template_name = "stylerec/admin/widgets/slider.html"


def _ids(text: str) -> list[int]:
    """'12, 40 7' -> [12, 40, 7] (order kept, repeats dropped); anything else is an error."""
    ids: list[int] = []
    for token in re.split(r"[\s,;]+", text.strip()):
        if not token:
            continue
        if not token.isdigit() or len(token) > 18:
            raise forms.ValidationError(f"“{token}” is not a product id (a whole number).")
        if int(token) not in ids:
            ids.append(int(token))
    return ids


def _check_exist(ids: list[int]) -> list[int]:
    known = set(get_product_model().objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pid for pid in ids if pid not in known]
    if missing:
        raise forms.ValidationError(f"No product with id {', '.join(map(str, missing))}.")
    return ids


class CategoriesField(forms.Field):
    """The list of categories the form's rows stand for, posted back as JSON (hidden)."""

    widget = forms.HiddenInput

    def to_python(self, value: Any) -> Any:  # list[str]
        try:
            names = json.loads(value or "[]")
        except ValueError:
            raise forms.ValidationError("The category list was damaged; reload the page.") from None
        if not isinstance(names, list) or not all(isinstance(n, str) and len(n) <= 200 for n in names):
            raise forms.ValidationError("The category list was damaged; reload the page.")
        return names[:CATEGORY_ROWS_MAX]


class RankingProfileForm(forms.ModelForm):
    rule_pins = forms.CharField(
        label="Pinned products",
        required=False,
        help_text="Product ids shown first, in this order (e.g. 12, 40). They still must be in stock.",
    )
    rule_product_boosts = forms.CharField(
        label="Boosted products",
        required=False,
        help_text="Product id and amount added to its score, e.g. “12: 0.5, 40: -0.3” "
        f"(between {RULE_BOOST_BOUNDS[0]:g} and {RULE_BOOST_BOUNDS[1]:g}).",
    )
    rule_blocked_products = forms.CharField(
        label="Blocked products", required=False, help_text="Product ids never recommended."
    )
    rule_categories = CategoriesField(required=False)

    class Meta:
        model = RankingProfile
        fields = (  # not rules (the rule_* fields write it) nor metrics (learned profiles' record)
            "name",
            "description",
            "is_active",
            "formula",
            *(f"w_{signal}" for signal in SIGNALS),
            "bias",
            "mmr_lambda",
            "max_per_category",
            "in_stock_only",
            "candidate_pool",
            "freshness_half_life_days",
            "challenger",
            "challenger_share",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (low, high, step) in SLIDERS.items():
            if name in self.fields:
                old = self.fields[name]
                self.fields[name] = forms.FloatField(
                    label=old.label,
                    help_text=old.help_text,
                    required=old.required,
                    min_value=low,
                    max_value=high,
                    widget=SliderInput(attrs={"min": low, "max": high, "step": step}),
                )
        for name, (low, high) in NUMBERS.items():
            if name in self.fields:
                field = self.fields[name]
                field.validators += [
                    MinValueValidator(low),
                    MaxValueValidator(high),
                ]
                field.widget.attrs.update(min=low, max=high)
        rules = rules_parse(self.instance.rules if self.instance else {})
        self.fields["rule_pins"].initial = ", ".join(map(str, rules.pins))
        self.fields["rule_product_boosts"].initial = ", ".join(
            f"{pid}: {amount:g}" for pid, amount in rules.boost_products.items()
        )
        self.fields["rule_blocked_products"].initial = ", ".join(map(str, sorted(rules.blocked_products)))
        self.category_names = self._categories(rules)
        self.fields["rule_categories"].initial = json.dumps(self.category_names, ensure_ascii=False)
        for index, name in enumerate(self.category_names):
            self.fields[f"cat_{index}_boost"] = forms.FloatField(
                required=False,
                min_value=RULE_BOOST_BOUNDS[0],
                max_value=RULE_BOOST_BOUNDS[1],
                initial=rules.boost_categories.get(name),
                label=f"{name}: boost",
                widget=forms.NumberInput(attrs={"step": 0.05, "placeholder": "0"}),
            )
            self.fields[f"cat_{index}_cap"] = forms.IntegerField(
                required=False,
                min_value=0,
                max_value=50,
                initial=rules.category_caps.get(name),
                label=f"{name}: cap",
                widget=forms.NumberInput(attrs={"placeholder": "default"}),
            )
            self.fields[f"cat_{index}_block"] = forms.BooleanField(
                required=False, initial=name in rules.blocked_categories, label=f"{name}: blocked"
            )

    def _categories(self, rules: Any) -> list[str]:
        """The rows: the posted list when the form comes back, else the catalog's categories
        plus any a rule names."""
        if self.is_bound:
            try:
                posted = self.data.get(self.add_prefix("rule_categories"))
                return list(self.fields["rule_categories"].to_python(posted) or [])
            except forms.ValidationError:
                return []
        catalog = get_product_model().objects.exclude(category="").order_by("category")
        names = set(catalog.values_list("category", flat=True).distinct()[:CATEGORY_ROWS_MAX])
        names |= set(rules.boost_categories) | set(rules.category_caps) | set(rules.blocked_categories)
        return sorted(names)[:CATEGORY_ROWS_MAX]

    @property
    def category_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "boost": self[f"cat_{index}_boost"],
                "cap": self[f"cat_{index}_cap"],
                "block": self[f"cat_{index}_block"],
            }
            for index, name in enumerate(self.category_names)
        ]

    def clean_rule_pins(self) -> list[int]:
        return _check_exist(_ids(self.cleaned_data["rule_pins"]))

    def clean_rule_blocked_products(self) -> list[int]:
        return _check_exist(_ids(self.cleaned_data["rule_blocked_products"]))

    def clean_rule_product_boosts(self) -> dict[int, float]:
        boosts: dict[int, float] = {}
        for pair in re.split(r"[,;\n]+", self.cleaned_data["rule_product_boosts"]):
            if not pair.strip():
                continue
            pid, sep, amount = pair.partition(":")
            if not sep or not pid.strip().isdigit():
                raise forms.ValidationError(f"“{pair.strip()}”: write a product id, a colon and an amount.")
            try:
                value = float(amount)
            except ValueError:
                raise forms.ValidationError(f"“{pair.strip()}”: the amount is not a number.") from None
            if not RULE_BOOST_BOUNDS[0] <= value <= RULE_BOOST_BOUNDS[1]:  # also false for NaN
                raise forms.ValidationError(
                    f"“{pair.strip()}”: the amount must be between {RULE_BOOST_BOUNDS[0]:g} and "
                    f"{RULE_BOOST_BOUNDS[1]:g}."
                )
            boosts[int(pid)] = value
        _check_exist(list(boosts))
        return boosts

    def rules_json(self) -> dict[str, Any]:
        """The cleaned rule fields as ``RankingProfile.rules`` (the format ``rules_parse`` reads);
        keys this form does not edit are kept as they were."""
        data = self.cleaned_data
        rules: dict[str, Any] = {
            key: value
            for key, value in (self.instance.rules or {}).items()
            if key not in ("pin", "boost", "block", "cap")
        }
        boost = {f"product:{pid}": amount for pid, amount in data.get("rule_product_boosts", {}).items()}
        block = [f"product:{pid}" for pid in data.get("rule_blocked_products", [])]
        cap = {}
        for index, name in enumerate(self.category_names):
            if data.get(f"cat_{index}_boost"):
                boost[f"category:{name}"] = data[f"cat_{index}_boost"]
            if data.get(f"cat_{index}_cap") is not None:
                cap[f"category:{name}"] = data[f"cat_{index}_cap"]
            if data.get(f"cat_{index}_block"):
                block.append(f"category:{name}")
        for key, value in (
            ("pin", data.get("rule_pins", [])),
            ("boost", boost),
            ("block", block),
            ("cap", cap),
        ):
            if value:
                rules[key] = value
        return rules

    def save(self, commit: bool = True) -> RankingProfile:
        self.instance.rules = self.rules_json()
        return super().save(commit=commit)
