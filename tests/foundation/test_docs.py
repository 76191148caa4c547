"""The documentation: measurement tables generated from benchmarks/results, a short README.

No database: these read files only."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks import tables

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
README_MAX_LINES = 250


def _sections(markdown: str) -> dict[str, str]:
    """{results file name: its section's text}, from the level-2 headings ``... (`name.json`)``."""
    sections: dict[str, str] = {}
    current = None
    for line in markdown.splitlines():
        match = re.match(r"## .*\(`([^`]+\.json)`\)", line)
        if match:
            current = match.group(1)
            sections[current] = ""
        elif line.startswith("## "):
            current = None
        if current:
            sections[current] += line + "\n"
    return sections


def _numbers(data: Any) -> list[float]:
    if isinstance(data, bool) or data is None:
        return []
    if isinstance(data, (int, float)):
        return [data]
    if isinstance(data, dict):
        return [n for value in data.values() for n in _numbers(value)]
    if isinstance(data, list):
        return [n for value in data for n in _numbers(value)]
    return []


def test_every_results_file_has_a_section_with_its_numbers():
    files = sorted(RESULTS.glob("*.json"))
    assert files, "benchmarks/results holds no JSON file"
    sections = _sections(tables.render_markdown(RESULTS))
    assert sorted(sections) == [path.name for path in files]
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        section = sections[path.name]
        floats = [n for n in _numbers(data) if isinstance(n, float) and not n.is_integer()]
        shown = [n for n in floats if tables.fmt(n) in section or tables.fixed(n) in section]
        assert shown, f"no measured number of {path.name} appears in its section"


def test_a_measurement_appears_exactly_as_in_its_file():
    serving = json.loads((RESULTS / "serving.json").read_text(encoding="utf-8"))
    p99 = serving["uncached_ms"]["p99"]
    markdown = tables.render_markdown(RESULTS)
    assert str(p99) in markdown  # e.g. 114.899: the table is the file's number, not a typed one
    assert "serving.json" in markdown


def test_unknown_and_malformed_files_are_rendered_generically(tmp_path):
    (tmp_path / "new_benchmark.json").write_text(
        json.dumps({"machine": {"cpus": 4}, "rows": [{"kind": "x", "items_per_s": 12.345}], "note": "a|b"})
    )
    (tmp_path / "models.json").write_text(json.dumps({"unexpected": 98.765}))  # a known name, new shape
    markdown = tables.render_markdown(tmp_path)
    sections = _sections(markdown)
    assert sorted(sections) == ["models.json", "new_benchmark.json"]
    assert "12.345" in sections["new_benchmark.json"]
    assert "a\\|b" in sections["new_benchmark.json"]  # a pipe cannot break the table
    assert "98.765" in sections["models.json"]


def test_the_docs_hook_puts_the_tables_into_the_benchmarks_page():
    pytest.importorskip("mkdocs")
    benchmarks_page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("_stylerec_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    assert hooks.MARKER in benchmarks_page
    assert "docs/hooks.py" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")

    class Page:
        class file:  # noqa: N801 - mimics mkdocs' Page.file
            src_uri = "benchmarks.md"

    rendered = hooks.on_page_markdown(benchmarks_page, page=Page(), config={}, files=None)
    assert hooks.MARKER not in rendered
    assert set(_sections(rendered)) == {path.name for path in RESULTS.glob("*.json")}


def test_readme_is_short_and_its_doc_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.count("\n") + (0 if readme.endswith("\n") else 1)
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the rest belongs in docs/"
    for target in re.findall(r"\]\((docs/[^)#\s]+)", readme):
        assert (ROOT / target).exists(), f"README links to a missing {target}"
