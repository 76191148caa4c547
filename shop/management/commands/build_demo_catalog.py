from django.core.management.base import BaseCommand
from tqdm import tqdm

from shop.demo_catalog import build_demo_catalog


class Command(BaseCommand):
    help = (
        "Build the demo store: real photos, real and generated reviews, styles, simulated customers "
        "and a simulated A/B test (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=3000, help="Number of products (default 3000).")
        parser.add_argument("--customers", type=int, default=60)
        parser.add_argument("--force", action="store_true", help="Delete the demo data and build it again.")

    def handle(self, *args, size: int, customers: int, force: bool, **options):
        bars: dict[str, tqdm] = {}
        totals = {"photos": size, "customers": customers, "reviews": None}

        def progress(label: str, n: int) -> None:
            if label not in bars:
                bars[label] = tqdm(total=totals.get(label), desc=f"demo {label}", unit="", leave=True)
            bars[label].update(n)

        report = build_demo_catalog(size=size, customers=customers, force=force, progress=progress)
        for bar in bars.values():
            bar.close()
        if report.skipped:
            self.stdout.write("Demo catalog already built (use --force to rebuild).")
        else:
            self.stdout.write(
                f"Demo catalog: {report.products} products, {report.reviews} reviews, {report.customers} "
                f"customers, {report.interactions} interactions (simulated histories), "
                f"{report.ab_events} A/B test events (simulated)."
            )
