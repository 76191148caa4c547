import logging

from django.core.cache import cache

from stylerec.cache import cache_outage_log
from stylerec.models import get_product_model

logger = logging.getLogger(__name__)


def categories(request):
    """Category names for the navigation bar, cached: they change only when the catalog does.
    Every page renders this, so with the cache down (Redis) they are read from the database."""
    try:
        names = cache.get("shop:categories")
    except Exception:  # a cache outage must not turn every page into a 500
        cache_outage_log("shop categories read", log=logger)
        names = None
    if names is None:
        names = list(
            get_product_model()
            .objects.filter(is_active=True)
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()
        )
        try:
            cache.set("shop:categories", names, 300)
        except Exception:
            cache_outage_log("shop categories write", log=logger)
    return {"nav_categories": names}


def cart(request):
    """The mini cart's item count for the header badge (the session's cart; no query)."""
    from shop.cart import cart_count

    return {"cart_count": cart_count(request)}
