"""Catalog search: every word of the query, in any order, in Chinese and English, ranked; a typo
corrected from the catalog's words; the search still feeds the customer's profile."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stylerec.models import Interaction
from stylerec.search import products_search, search_terms
from tests.factories import make_product, make_style


def test_search_terms_split_words_and_scripts():
    assert search_terms("Retro  DRESS") == ["retro", "dress"]
    assert search_terms("复古 bag") == ["复古", "bag"]
    assert search_terms("复古bag, 简约！") == ["复古", "bag", "简约"]
    assert search_terms("t-shirt retro retro") == ["t-shirt", "retro"]
    assert search_terms("  ,, ") == []


@pytest.fixture
def catalog(db):
    make_style("retro", name="Retro", name_zh="复古", keywords="retro,vintage,复古,怀旧")
    make_style("minimalist", name="Minimalist", name_zh="简约", keywords="minimalist,clean,简约,极简")
    products = {
        "retro_dress": make_product(
            title="Retro Mustard Dress Aster",
            category="Dress",
            description="A mustard dress with a vintage feel.",
            style_scores={"retro": 0.8, "minimalist": 0.05},
            sales_count=3,
        ),
        "retro_bag": make_product(
            title="Retro Rust Bag Birch",
            category="Bag",
            description="A rust bag with a vintage feel.\n复古风格的包，Rust色。",
            style_scores={"retro": 0.7},
            sales_count=1,
        ),
        # Retro by its style score only: its own words are English and say nothing of "retro".
        "quiet_retro_bag": make_product(
            title="Sepia Tote Juniper",
            category="Bag",
            description="A roomy tote.",
            style_scores={"retro": 0.6, "minimalist": 0.1},
            sales_count=9,
        ),
        "minimal_bag": make_product(
            title="Minimalist Stone Bag Fern",
            category="Bag",
            description="A clean, minimal stone bag.",
            style_scores={"minimalist": 0.9},
        ),
        "minimal_dress": make_product(
            title="Minimalist White Dress Gale",
            category="Dress",
            description="A clean dress. Not retro at all.",  # "retro" in the description only
            style_scores={"minimalist": 0.9, "retro": 0.02},
            sales_count=50,
        ),
        "shirt": make_product(title="Casual Denim Shirt Iris", category="Shirt", style_scores={}),
    }
    return products


def _titles(query: str, **kwargs) -> list[str]:
    return [p.title for p in products_search(query, **kwargs).products]


def test_every_word_must_match_in_any_order(catalog):
    assert _titles("retro dress") == ["Retro Mustard Dress Aster", "Minimalist White Dress Gale"]
    assert _titles("dress retro") == _titles("retro dress")  # order does not matter
    assert _titles("retro dress shirt") == []  # every word must be found


def test_the_title_ranks_above_the_description(catalog):
    # "retro" is in the first dress's title and in the second's description only: the first
    # ranks first although the second sells far more.
    assert _titles("retro dress")[0] == "Retro Mustard Dress Aster"


def test_chinese_and_english_mix_and_style_names_count(catalog):
    found = _titles("复古 bag")
    # the Chinese description's bag, and the bag that is retro by its style score alone
    assert set(found) == {"Retro Rust Bag Birch", "Sepia Tote Juniper"}
    assert _titles("bag 复古") == found
    assert _titles("简约 bag") == ["Minimalist Stone Bag Fern"]
    assert _titles("复古bag") == found  # no space between the scripts


def test_a_word_inside_a_longer_word_matches(catalog):
    make_product(title="Floral Dresses Set", category="Dress")
    assert "Floral Dresses Set" in _titles("dress")


def test_a_typo_is_corrected_from_the_catalog_words(catalog):
    found = products_search("retor dres")
    assert found.corrected == "retro dres"  # "dres" is found inside "dress": not a typo
    assert [p.title for p in found.products][0] == "Retro Mustard Dress Aster"
    assert products_search("retro dress").corrected == ""  # nothing to correct
    assert list(products_search("xylophone").products) == []


def test_wildcards_never_reach_the_like_pattern(catalog):
    assert search_terms("100%_cotton") == ["100", "cotton"]  # punctuation separates words
    assert _titles("%") == _titles("")  # nothing left to search for: the whole catalog


def test_an_empty_query_keeps_the_queryset(catalog):
    assert len(_titles("")) == len(catalog)


def test_catalog_page_searches_word_by_word_and_records_the_search(client, catalog):
    page = client.get(reverse("shop:catalog"), {"q": "retro dress"})
    assert [p.title for p in page.context["page"].object_list][0] == "Retro Mustard Dress Aster"
    assert page.context["page"].paginator.count == 2
    assert Interaction.objects.filter(kind=Interaction.Kind.SEARCH, query="retro dress").count() == 1
    page = client.get(reverse("shop:catalog"), {"q": "复古 bag"})
    assert page.context["page"].paginator.count == 2
    page = client.get(reverse("shop:catalog"), {"q": "retro", "category": "Bag"})
    assert {p.title for p in page.context["page"].object_list} == {
        "Retro Rust Bag Birch",
        "Sepia Tote Juniper",
    }
    page = client.get(reverse("shop:catalog"), {"q": "retor"})
    assert "showing results for" in page.content.decode()


def test_the_search_box_placeholder_examples_find_products(client, catalog):
    import re

    html = client.get(reverse("shop:catalog")).content.decode()
    placeholder = re.search(r'name="q"[^>]*placeholder="Search: ([^"]+)"', html).group(1)
    examples = [e.strip(" …") for e in placeholder.split(",")]
    assert examples == ["retro dress", "简约 bag"]
    for example in examples:
        assert client.get(reverse("shop:catalog"), {"q": example}).context["page"].paginator.count > 0
