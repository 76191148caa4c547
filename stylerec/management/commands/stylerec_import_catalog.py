from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stylerec.services.catalog import catalog_import, catalog_report_text


class Command(BaseCommand):
    help = (
        "Import a catalog from CSV or JSON lines "
        "(title, category, price; optional sku, description, brand, stock, image)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--images-dir", type=Path, help="Where relative image paths live (default: the file's folder)."
        )
        parser.add_argument("--strict", action="store_true", help="Import nothing if any row is bad.")

    def handle(self, *args, path: Path, images_dir: Path | None, strict: bool, **options):
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        try:
            report = catalog_import(path=path, images_dir=images_dir, strict=strict)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(catalog_report_text(report))
        if report.errors:
            raise CommandError(
                f"{len(report.errors)} row(s) rejected" + (" — nothing imported (--strict)" if strict else "")
            )
