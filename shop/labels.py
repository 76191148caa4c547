"""What the demo store marks as made up. The demo catalog (``shop.demo_catalog``) titles every
review it wrote itself with ``GENERATED_REVIEW_TITLE``; the product page shows those with a
"generated review" badge instead of the title. Kept apart from the catalog builder so that the
store's pages import no image or data-set code."""

GENERATED_REVIEW_TITLE = "Generated review (demo)"
