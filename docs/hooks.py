"""MkDocs hook: the measurement tables of ``docs/benchmarks.md`` come from ``benchmarks/results``.

``mkdocs.yml`` names this file under ``hooks:``. The marker ``<!-- measurements -->`` in a page is
replaced by the Markdown that ``benchmarks.tables`` renders from every ``benchmarks/results/*.json``
at build time, so the site never shows a number that is not in a results file. The build fails if
no page carries the marker (the tables would silently be gone otherwise).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "benchmarks" / "tables.py"
RESULTS_DIR = ROOT / "benchmarks" / "results"
MARKER = "<!-- measurements -->"

_replaced: list[str] = []


def _tables_module() -> ModuleType:
    # Loaded from its file on every build: no sys.path changes, and `mkdocs serve` picks up edits.
    spec = importlib.util.spec_from_file_location("_stylerec_benchmark_tables", TABLES)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot load {TABLES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_pre_build(config: Any, **kwargs: Any) -> None:
    _replaced.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    _replaced.append(page.file.src_uri)
    return markdown.replace(MARKER, _tables_module().render_markdown(RESULTS_DIR))


def on_post_build(config: Any, **kwargs: Any) -> None:
    if not _replaced:
        raise PluginError(f"no page contains {MARKER!r}: the measurement tables are missing from the site")
