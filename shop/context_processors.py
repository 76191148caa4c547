from django.core.cache import cache

from stylerec.models import get_product_model


def categories(request):
    """Category names for the navigation bar, cached: they change only when the catalog does."""
    names = cache.get("shop:categories")
    if names is None:
        names = list(
            get_product_model()
            .objects.filter(is_active=True)
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()
        )
        cache.set("shop:categories", names, 300)
    return {"nav_categories": names}


def cart(request):
    """The mini cart's item count for the header badge (the session's cart; no query)."""
    from shop.cart import cart_count

    return {"cart_count": cart_count(request)}
