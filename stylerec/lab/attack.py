"""The shilling attack of issue #13, repeatable: fake accounts push one obscure product.

``attack_run`` works on the current database (a test database in the tests, the demo's with the
command ``stylerec_attack_sim``):

1. refreshes the signals and measures, for up to ``customers`` ordinary customers (active,
   non-staff users with history, none of the attack's), which blocks show which products:
   ``for_you``, ``in_your_style`` and ``trending`` of each customer, and ``similar`` and
   ``bought_together`` on the pages of the ``popular`` most popular products;
2. picks the target (``target=None``: the in-stock product that the fewest customers saw in any
   measured block, ideally none, then with the fewest interactions);
3. runs the attack through the real HTTP paths (Django's test client, each account from its own
   address, like a botnet): sign up (the store's sign-up form when it has ``shop:signup``, else the
   user model), then for the target and each popular product a view (API event), a click (a block's
   click link), an add-to-cart (the form endpoint) and a purchase posted as a client event (API and
   form endpoint: both are now refused), and a 5★ review of the target (API). The first account
   also tries ``spam_reviews`` more reviews through the store's review form (throttled);
4. gives the attack's reviews the sentiment a model gives a glowing text, where no worker has
   scored them yet, and updates the aggregates;
5. refreshes the signals (``collaborative_refresh``, as ``stylerec_refresh_signals``) and measures
   again.

The report holds, per block, the share of ordinary customers for whom the target appeared (for
page blocks: on any of the popular products' pages), before and after, and the goal: no block
above ``GOAL_RATIO`` after the attack (or above its share before, should the target already have
been shown more often than that). ``attack_cleanup`` removes every account the simulation made,
and their data.
"""

from __future__ import annotations

import json
import logging
import platform
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.test import Client
from django.test.utils import override_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from stylerec.models import Interaction, Review, get_product_model

ACCOUNT_PREFIX = "stylerec-attack-"
GOAL_RATIO = 0.02
BLOCK_K = {"for_you": 8, "in_your_style": 8, "trending": 10, "similar": 8, "bought_together": 4}
CUSTOMER_BLOCKS = ("for_you", "in_your_style", "trending")
PAGE_BLOCKS = ("similar", "bought_together")
REVIEW_TEXT = "Absolutely perfect! Best purchase ever, amazing quality, I love it. Five stars!"
REVIEW_SENTIMENT = 0.95  # what the sentiment model gives such a text
RESULTS_FILE = Path("benchmarks/results/attack.json")  # relative to the working directory


@dataclass
class Measurement:
    """Which customers saw which products, per block."""

    customers: int = 0
    page_requests: int = 0
    seen: dict[str, dict[int, set[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    requests_hit: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0

    def ratios(self, product_id: int) -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        for block in (*CUSTOMER_BLOCKS, *PAGE_BLOCKS):
            customers = len(self.seen[block].get(product_id, ()))
            requests = self.customers * (self.page_requests if block in PAGE_BLOCKS else 1)
            out[block] = {
                "customers_hit": customers,
                "customer_ratio": round(customers / self.customers, 4) if self.customers else 0.0,
                "requests_hit": int(self.requests_hit[block][product_id]),
                "requests": requests,
            }
        return out


def ordinary_customers(*, limit: int) -> list[int]:
    """Ids of active, non-staff users with product interactions, none of the attack's accounts."""
    users = get_user_model()._default_manager
    ids = (
        Interaction.objects.filter(user__isnull=False, product__isnull=False)
        .exclude(**{f"user__{users.model.USERNAME_FIELD}__startswith": ACCOUNT_PREFIX})
        .values_list("user_id", flat=True)
        .distinct()
    )
    kept = users.filter(pk__in=ids).order_by("pk")
    fields = {f.name for f in users.model._meta.concrete_fields}
    if "is_staff" in fields:
        kept = kept.filter(is_staff=False)
    if "is_active" in fields:
        kept = kept.filter(is_active=True)
    return list(kept.values_list("pk", flat=True)[:limit])


def signals_refresh() -> dict[str, int]:
    """What ``stylerec_refresh_signals`` does, plus dropping the briefly cached trending lists."""
    from stylerec.cache import cache_delete
    from stylerec.ranking.collaborative import collaborative_refresh

    counts = collaborative_refresh()
    for in_stock in (0, 1):
        cache_delete(f"trending:{in_stock}:*")
    return counts


def popular_products(*, count: int, exclude: set[int]) -> list[int]:
    products = get_product_model().objects.filter(is_active=True).exclude(pk__in=sorted(exclude))
    return list(
        products.filter(popularity__gt=0).order_by("-popularity", "pk").values_list("pk", flat=True)[:count]
    )


def measure(*, customers: list[int], pages: list[int]) -> Measurement:
    """Rank every measured block for every customer, uncached (the engine itself)."""
    from stylerec.ranking.engine import recommend
    from stylerec.ranking.types import RecommendationRequest

    started = time.perf_counter()
    result = Measurement(customers=len(customers), page_requests=len(pages))
    for user_id in customers:
        requests: list[tuple[str, int | None]] = [(block, None) for block in CUSTOMER_BLOCKS]
        requests += [(block, page) for page in pages for block in PAGE_BLOCKS]
        for block, page in requests:
            ranked = recommend(
                RecommendationRequest(block=block, user_id=user_id, product_id=page, k=BLOCK_K[block])
            )
            for item in ranked.items:
                result.seen[block][item.product.pk].add(user_id)
                result.requests_hit[block][item.product.pk] += 1
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def target_pick(*, before: Measurement, exclude: set[int]) -> int:
    """The in-stock product that the fewest customers saw in any measured block (ideally none),
    then with the fewest interactions: an obscure product."""
    seen_by: dict[int, int] = defaultdict(int)
    for block in before.seen.values():
        for pid, who in block.items():
            seen_by[pid] = max(seen_by[pid], len(who))
    products = (
        get_product_model()
        .objects.filter(is_active=True)
        .filter(Q(stock__gt=0) | Q(stock__isnull=True))
        .exclude(pk__in=sorted(exclude))
        .annotate(n=Count("stylerec_interactions"))
        .values_list("pk", "n", "popularity")
    )
    ranked = sorted(products, key=lambda row: (seen_by.get(row[0], 0), row[1], row[2], row[0]))
    if not ranked:
        raise ValueError("no active product in stock to target")
    return int(ranked[0][0])


def _url(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


class Attacker:
    """One fake account, from its own address."""

    def __init__(self, *, username: str, address: str) -> None:
        self.username = username
        self.client = Client(REMOTE_ADDR=address)
        self.statuses: Counter = Counter()

    def _note(self, step: str, status: int) -> int:
        self.statuses[f"{step} {status}"] += 1
        return status

    def sign_up(self) -> None:
        password = secrets.token_urlsafe(18)
        url = _url("shop:signup")
        if url is not None:
            data = {"username": self.username, "password1": password, "password2": password}
            self._note("signup", self.client.post(url, data).status_code)
        users = get_user_model()._default_manager
        user = users.filter(**{users.model.USERNAME_FIELD: self.username}).first()
        if user is None:  # no sign-up form in this store (or it refused): make the account directly
            user = users.create_user(**{users.model.USERNAME_FIELD: self.username}, password=password)
            self.client.force_login(user)

    def push(self, product_id: int) -> None:
        events = reverse("stylerec:api-events")
        post = self.client.post
        self._note("view (API event)", post(events, {"kind": "view", "product_id": product_id}).status_code)
        click = reverse("stylerec:click", args=["similar", product_id]) + "?pos=1"
        # as a browser following the link on the store's page says (a script can say it too)
        clicked = self.client.get(click, HTTP_SEC_FETCH_SITE="same-origin")
        self._note("click (block link)", clicked.status_code)
        form = reverse("stylerec:event")
        self._note(
            "cart (form)", post(form, {"kind": "cart", "product_id": product_id, "next": "/"}).status_code
        )
        purchase = {"kind": "purchase", "product_id": product_id}
        self._note("purchase (API event)", post(events, purchase).status_code)
        self._note("purchase (form)", post(form, {**purchase, "next": "/"}).status_code)

    def review(self, product_id: int) -> None:
        url = reverse("stylerec:api-product-reviews", args=[product_id])
        data = {"rating": 5, "title": "Love it", "text": REVIEW_TEXT}
        self._note("review (API)", self.client.post(url, data).status_code)

    def spam_reviews(self, product_id: int, count: int) -> None:
        url = _url("shop:review_create", product_id)
        if url is None:
            return
        for n in range(count):
            data = {"rating": 5, "title": f"Love it #{n}", "text": REVIEW_TEXT}
            self._note("extra review (store form)", self.client.post(url, data).status_code)


def attack_perform(
    *, target: int, popular: list[int], accounts: int, spam_reviews: int, run: str
) -> dict[str, int]:
    """The attack; returns how often each step got each HTTP status (the 400s and 429s it
    expects are not logged as warnings one by one)."""
    statuses: Counter = Counter()
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    try:
        for n in range(accounts):
            _account_attack(
                n=n, target=target, popular=popular, spam_reviews=spam_reviews, run=run, statuses=statuses
            )
    finally:
        request_log.setLevel(level)
    return dict(sorted(statuses.items()))


def _account_attack(
    *, n: int, target: int, popular: list[int], spam_reviews: int, run: str, statuses: Counter
) -> None:
    """Fake account ``n``, from an address of its own (a botnet: the address limits do not stop it)."""
    attacker = Attacker(username=f"{ACCOUNT_PREFIX}{run}-{n:03d}", address=f"198.18.{n // 250}.{n % 250 + 1}")
    attacker.sign_up()
    for product_id in (target, *popular):
        attacker.push(product_id)
    attacker.review(target)
    if n == 0 and spam_reviews:
        attacker.spam_reviews(target, spam_reviews)
    statuses.update(attacker.statuses)


def attack_reviews_score(*, product_ids: list[int]) -> None:
    """Score the attack's reviews as the sentiment model would (where no worker has yet), and
    update the products' aggregates."""
    from stylerec.services.aggregates import products_sentiment_aggregate

    users = get_user_model()._default_manager
    Review.objects.filter(
        **{f"user__{users.model.USERNAME_FIELD}__startswith": ACCOUNT_PREFIX}, sentiment_score__isnull=True
    ).update(sentiment_score=REVIEW_SENTIMENT, sentiment_label=Review.Sentiment.POSITIVE)
    products_sentiment_aggregate(product_ids=product_ids)


def attack_cleanup() -> dict[str, int]:
    """Delete every account the simulation made (and, with them, their events and reviews), then
    update the aggregates and signals of the products they touched."""
    from stylerec.services.aggregates import products_sentiment_aggregate

    users = get_user_model()._default_manager
    fake = users.filter(**{f"{users.model.USERNAME_FIELD}__startswith": ACCOUNT_PREFIX})
    touched = set(
        Interaction.objects.filter(user__in=fake).exclude(product=None).values_list("product_id", flat=True)
    )
    touched |= set(Review.objects.filter(user__in=fake).values_list("product_id", flat=True))
    reviews = Review.objects.filter(user__in=fake).delete()[0]
    interactions = Interaction.objects.filter(user__in=fake).delete()[0]
    accounts = fake.count()
    fake.delete()
    products_sentiment_aggregate(product_ids=sorted(touched))
    signals_refresh()
    return {"accounts": accounts, "interactions": interactions, "reviews": reviews}


def _product_state(product_id: int) -> dict[str, Any]:
    product = get_product_model().objects.get(pk=product_id)
    return {
        "popularity": round(float(product.popularity), 4),
        "sales_count": int(product.sales_count),
        "rating_average": product.rating_average,
        "review_count": int(product.review_count),
        "sentiment_score": product.sentiment_score,
    }


def _max_popularity() -> float:
    top = get_product_model().objects.filter(is_active=True).order_by("-popularity").first()
    return round(float(top.popularity), 4) if top else 0.0


@contextmanager
def _everyone_trusted(active: bool) -> Iterator[None]:
    from stylerec import trust

    saved = trust.TRUST_EXPR
    if active:
        trust.TRUST_EXPR = "1.0::float8"
    try:
        yield
    finally:
        trust.TRUST_EXPR = saved


def _attack_measured(
    *,
    accounts: int,
    target: int | None,
    popular: int,
    customers: int,
    spam_reviews: int,
    run: str,
    say: Callable[[str], object],
) -> tuple[
    Measurement, Measurement, list[int], list[int], int, tuple[Any, Any, float, float], dict[str, int]
]:
    signals_refresh()
    measured = ordinary_customers(limit=customers)
    if not measured:
        raise ValueError("no ordinary customer (a non-staff user with interactions) to measure")
    pages = popular_products(count=popular, exclude={target} if target else set())
    say(f"measuring {len(measured)} customers, {len(pages)} popular product pages (before)")
    before = measure(customers=measured, pages=pages)
    target = target or target_pick(before=before, exclude=set(pages))
    before_state, before_max = _product_state(target), _max_popularity()
    say(f"attacking product {target} with {accounts} accounts")
    statuses = attack_perform(
        target=target, popular=pages, accounts=accounts, spam_reviews=spam_reviews, run=run
    )
    attack_reviews_score(product_ids=[target, *pages])
    signals_refresh()
    say("measuring again (after)")
    after = measure(customers=measured, pages=pages)
    states = (before_state, _product_state(target), before_max, _max_popularity())
    return before, after, measured, pages, target, states, statuses


def attack_run(
    *,
    accounts: int = 50,
    target: int | None = None,
    popular: int = 5,
    customers: int = 200,
    spam_reviews: int = 45,
    cleanup: bool = False,
    without_trust: bool = False,
    progress: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """Measure, attack, measure again; the report (see the module's docstring).

    ``without_trust`` is the control: every customer counts as fully trusted while the run
    measures (popularity, co-occurrence and review aggregates as they were before
    ``stylerec.trust``), to show what the trust weights buy. Client purchases stay refused."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    run = secrets.token_hex(3)
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        with _everyone_trusted(without_trust):
            before, after, measured, pages, target, states, statuses = _attack_measured(
                accounts=accounts,
                target=target,
                popular=popular,
                customers=customers,
                spam_reviews=spam_reviews,
                run=run,
                say=say,
            )
        cleaned = attack_cleanup() if cleanup else None  # signals refreshed with the real weights
        if without_trust and not cleanup:
            signals_refresh()  # the fake accounts stay, the signals go back to the real weights
    before_state, after_state, before_max, after_max = states
    ratios_before, ratios_after = before.ratios(target), after.ratios(target)
    worst_after = max(r["customer_ratio"] for r in ratios_after.values())
    # Met when no block shows the target to more than GOAL_RATIO of the customers, or, where it
    # already did before the attack (a small catalog), to no more than before.
    met = all(
        ratios_after[b]["customer_ratio"] <= max(GOAL_RATIO, ratios_before[b]["customer_ratio"])
        for b in ratios_after
    )
    blocks = [
        {
            "block": block,
            "k": BLOCK_K[block],
            "where": "popular products' pages" if block in PAGE_BLOCKS else "customer",
            "before_customer_ratio": ratios_before[block]["customer_ratio"],
            "after_customer_ratio": ratios_after[block]["customer_ratio"],
            "before_requests_hit": ratios_before[block]["requests_hit"],
            "after_requests_hit": ratios_after[block]["requests_hit"],
            "requests": ratios_after[block]["requests"],
        }
        for block in (*CUSTOMER_BLOCKS, *PAGE_BLOCKS)
    ]
    from stylerec import trust

    return {
        "created": timezone.now().isoformat(timespec="seconds"),
        "database": str(settings.DATABASES["default"].get("NAME", "")),
        "catalog_products": get_product_model().objects.filter(is_active=True).count(),
        "customers_measured": len(measured),
        "accounts": accounts,
        "trust_weights": not without_trust,
        "target": target,
        "popular_pages": pages,
        "goal_max_customer_ratio": GOAL_RATIO,
        "after_max_customer_ratio": worst_after,
        "max_lift": round(
            max(ratios_after[b]["customer_ratio"] - ratios_before[b]["customer_ratio"] for b in ratios_after),
            4,
        ),
        "goal_met": met,
        "blocks": blocks,
        "target_before": before_state,
        "target_after": after_state,
        "catalog_max_popularity": {"before": before_max, "after": after_max},
        "http_statuses": statuses,
        "trust": {
            "floor": trust.TRUST_FLOOR,
            "full_after_days": trust.TRUST_AGE_DAYS,
            "per_verified_order": trust.ORDER_TRUST,
            "new_below": trust.LOW_TRUST,
        },
        "cleanup": cleaned,
        "seconds": {
            "measure_before": before.seconds,
            "measure_after": after.seconds,
            "total": round(time.perf_counter() - started, 3),
        },
        "machine": {"python": platform.python_version()},
    }


def report_write(report: dict[str, Any], path: Path = RESULTS_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
