"""The evaluation's outputs: a console table, the JSON file, and an HTML page whose plots are
inline SVG (no CDN, no plotting library): metric vs K per method, and the ablation of the
learned profile. The same HTML body is shown in the admin for the store's own data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.utils.html import escape

RESULTS_DIR = Path("benchmarks") / "results"
SENTIMENT_FILE = "sentiment_eval.json"
TABLE_COLUMNS = (
    ("HR@10", "hr@10"),
    ("NDCG@10", "ndcg@10"),
    ("P@10", "precision@10"),
    ("R@10", "recall@10"),
    ("F1@10", "f1@10"),
    ("MRR", "mrr"),
    ("Cov@10", "coverage@10"),
    ("Div@10", "diversity@10"),
)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def results_dir() -> Path:
    """benchmarks/results under the project (BASE_DIR when the host defines it)."""
    from django.conf import settings

    base = Path(getattr(settings, "BASE_DIR", None) or Path.cwd())
    return base / RESULTS_DIR


def report_paths(dataset: str, directory: Path | None = None) -> tuple[Path, Path]:
    directory = directory or results_dir()
    return directory / f"evaluation_{dataset}.json", directory / f"evaluation_{dataset}.html"


def _label_suffix(result: dict[str, Any]) -> str:
    return " — SIMULATED data" if result.get("label") == "simulated" else ""


def report_table(result: dict[str, Any]) -> str:
    """Test-stage metrics per method as a fixed-width table (the README table's source)."""
    header = f"{'method':<22}" + "".join(f"{title:>9}" for title, _ in TABLE_COLUMNS)
    lines = [
        f"{result['dataset']} ({result['label']}{_label_suffix(result)}): "
        f"{result['data']['evaluated_customers']} customers evaluated, {result['data']['items']} items, "
        "test stage",
        header,
        "-" * len(header),
    ]
    for name, method in result["methods"].items():
        test = method["test"]
        lines.append(
            f"{name:<22}" + "".join(f"{test.get(key, float('nan')):>9.4f}" for _, key in TABLE_COLUMNS)
        )
    return "\n".join(lines)


def sentiment_summary(directory: Path | None = None) -> list[dict[str, Any]]:
    """Per-language accuracy and macro-F1 from the ML engineer's ``sentiment_eval.json``, found
    wherever they sit in that file (any dict holding both numbers counts, named by its path)."""
    path = (directory or results_dir()) / SENTIMENT_FILE
    if not path.exists():
        return []
    found: list[dict[str, Any]] = []

    def walk(node: Any, trail: list[str]) -> None:
        if isinstance(node, dict):
            keys = {key.lower().replace("-", "_"): key for key in node}
            f1_key = next((keys[k] for k in ("macro_f1", "f1_macro") if k in keys), None)
            if "accuracy" in keys and f1_key is not None:
                found.append(
                    {
                        "name": str(node.get("language") or node.get("name") or " / ".join(trail) or "all"),
                        "accuracy": node[keys["accuracy"]],
                        "macro_f1": node[f1_key],
                    }
                )
            for key, value in node.items():
                walk(value, [*trail, str(key)])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, [*trail, str(i)])

    walk(json.loads(path.read_text(encoding="utf-8")), [])
    return found


def report_write(result: dict[str, Any], *, directory: Path | None = None) -> tuple[Path, Path]:
    json_path, html_path = report_paths(result["dataset"], directory)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    html_path.write_text(report_html_page(result), encoding="utf-8")
    return json_path, html_path


# --- HTML ------------------------------------------------------------------------------------


def _svg_open(*, width: int, height: float, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
    )


def svg_line_chart(*, series: dict[str, list[float]], xs: list[int], title: str, y_label: str) -> str:
    width, height, left, right, top, bottom = 620, 320, 56, 170, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = max((v for values in series.values() for v in values), default=0.0) or 1.0
    y_max *= 1.1

    def x_at(i: int) -> float:
        return left + (plot_w * i / max(len(xs) - 1, 1))

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    parts = [
        _svg_open(width=width, height=height, title=title),
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="12" text-anchor="middle">K</text>',
        f'<text x="12" y="{top + plot_h / 2}" font-size="12" transform="rotate(-90 12 {top + plot_h / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for step in range(5):
        value = y_max * step / 4
        y = y_at(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value:.3f}</text>'
        )
    for i, k in enumerate(xs):
        parts.append(
            f'<text x="{x_at(i):.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{k}</text>'
        )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.extend(
            f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3" fill="{colour}"><title>{escape(name)} '
            f"@{xs[i]}: {v:.4f}</title></circle>"
            for i, v in enumerate(values)
        )
        legend_y = top + 14 * n + 6
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 26}" y="{legend_y + 1}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_bar_chart(*, bars: list[tuple[str, float]], title: str, x_label: str) -> str:
    """Horizontal bars around zero (negative: removing the signal hurts)."""
    row_h, left, right, top = 26, 110, 90, 30
    width = 620
    height = top + row_h * max(len(bars), 1) + 30
    plot_w = width - left - right
    span = max((abs(v) for _, v in bars), default=0.0) or 1.0
    zero = left + plot_w / 2
    parts = [
        _svg_open(width=width, height=height, title=title),
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{zero}" y1="{top - 4}" x2="{zero}" y2="{height - 26}" stroke="#333"/>',
        f'<text x="{zero}" y="{height - 8}" font-size="11" text-anchor="middle">{escape(x_label)}</text>',
    ]
    for i, (name, value) in enumerate(bars):
        y = top + i * row_h
        length = (plot_w / 2) * abs(value) / span
        x = zero if value >= 0 else zero - length
        colour = "#2ca02c" if value >= 0 else "#d62728"
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{max(length, 1):.1f}" height="{row_h - 8}" '
            f'fill="{colour}">'
            f"<title>{escape(name)}: {value:+.4f}</title></rect>"
            f'<text x="{left + plot_w + 6}" y="{y + 15}" font-size="11">{value:+.4f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def report_html_body(result: dict[str, Any], *, sentiment: list[dict[str, Any]] | None = None) -> str:
    """The report without <html>/<head>, to embed in the admin page as well."""
    ks = result["ks"]
    methods = result["methods"]
    simulated = result.get("label") == "simulated"
    data = result["data"]
    out = []
    if simulated:
        out.append(
            '<p class="sr-simulated"><strong>SIMULATED data:</strong> these histories were generated for the '
            "demo catalog; the numbers show the pipeline works, not how real customers behave.</p>"
        )
    out.append(
        f"<p>Data set <strong>{escape(result['dataset'])}</strong> ({escape(result['label'])}): "
        f"{data['evaluated_customers']} of {data['customers']} customers evaluated, {data['items']} items, "
        f"{data['interactions']} interactions. Content vectors: {escape(data['content_vectors'])}. "
        f"Generated {escape(result['generated_at'])} in {result['seconds']} s.</p>"
        f"<p><em>Protocol:</em> {escape(result['protocol'])}.</p>"
    )
    for note in data.get("notes") or []:
        out.append(f"<p class='sr-note'>Note: {escape(note)}</p>")
    out.append('<table class="sr-table"><thead><tr><th>method (test stage)</th>')
    out.extend(f"<th>{escape(title)}</th>" for title, _ in TABLE_COLUMNS)
    out.append("</tr></thead><tbody>")
    best = max((m["test"].get("ndcg@10", 0.0) for m in methods.values()), default=0.0)
    for name, method in methods.items():
        style = ' style="font-weight:bold"' if method["test"].get("ndcg@10", -1) == best else ""
        out.append(f"<tr{style}><td>{escape(name)}</td>")
        out.extend(f"<td>{method['test'].get(key, float('nan')):.4f}</td>" for _, key in TABLE_COLUMNS)
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append(_peers_html(result))
    for metric, label in (("ndcg", "NDCG@K"), ("hr", "HR@K"), ("recall", "Recall@K")):
        series = {name: [m["test"].get(f"{metric}@{k}", 0.0) for k in ks] for name, m in methods.items()}
        chart = svg_line_chart(series=series, xs=ks, title=f"{label} on test", y_label=label)
        out.append(f"<figure>{chart}</figure>")
    learned = result.get("learned_profile") or {}
    if learned:
        out.append("<h2>Learned profile</h2><table class='sr-table'><tr><th>signal</th><th>weight</th></tr>")
        out.extend(
            f"<tr><td>{escape(signal)}</td><td>{weight:+.4f}</td></tr>"
            for signal, weight in learned["weights"].items()
        )
        out.append(
            f"<tr><td>bias</td><td>{learned['bias']:+.4f}</td></tr>"
            f"<tr><td>MMR λ / category cap</td><td>{learned.get('mmr_lambda')} / "
            f"{learned.get('max_per_category')}</td></tr></table>"
        )
    available = [row for row in result.get("ablation") or [] if row.get("available")]
    if available:
        bars = [(row["signal"], row["delta_ndcg@10"]) for row in available]
        out.append(
            "<h2>Ablation</h2><p>The learned profile refitted without one signal at a time; the bar is the "
            "change in test NDCG@10 (red: the signal helps).</p>"
        )
        out.append(
            f"<figure>{svg_bar_chart(bars=bars, title='Δ NDCG@10 without the signal', x_label='Δ')}</figure>"
        )
        missing = [row["signal"] for row in result["ablation"] if not row.get("available")]
        if missing:
            out.append(f"<p>Not in this data set (constant): {escape(', '.join(missing))}.</p>")
    if sentiment:
        out.append(
            "<h2>Sentiment model (held-out reviews)</h2><table class='sr-table'>"
            "<tr><th>set</th><th>accuracy</th><th>macro-F1</th></tr>"
        )
        out.extend(
            f"<tr><td>{escape(row['name'])}</td><td>{float(row['accuracy']):.4f}</td>"
            f"<td>{float(row['macro_f1']):.4f}</td></tr>"
            for row in sentiment
        )
        out.append("</table>")
    return "".join(out)


def _peers_html(result: dict[str, Any]) -> str:
    """The RecBole peers' settings and wall times, and stylerec (learned) minus each peer with the
    paired bootstrap interval; a line saying why when there are none."""
    comparison = result.get("peers") or {}
    if not comparison.get("available"):
        return "<p>No RecBole peers in this report (<code>make peers</code> trains them on this split).</p>"
    methods = result["methods"]
    env = comparison.get("environment") or {}
    out = [
        "<h2>RecBole peers: same split, same metric code</h2>",
        f"<p>RecBole {escape(str(env.get('recbole', '?')))}, scored "
        f"{escape(comparison.get('generated_at', ''))}. {escape(comparison.get('protocol', ''))}.</p>",
        "<table class='sr-table'><tr><th>peer</th><th>hyper-parameters</th><th>wall time (s)</th>"
        "<th>Δ NDCG@10 [95% CI]</th><th>Δ HR@10 [95% CI]</th></tr>",
    ]
    for name, by_metric in comparison["learned_minus_peer"].items():
        params = ", ".join(f"{k} {v}" for k, v in (methods.get(name, {}).get("params") or {}).items())
        cells = "".join(
            f"<td>{ci['mean']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]</td>"
            for ci in (by_metric["ndcg@10"], by_metric["hr@10"])
        )
        best = " (best peer)" if name == comparison["best_peer"] else ""
        out.append(
            f"<tr><td>{escape(name + best)}</td><td>{escape(params or '–')}</td>"
            f"<td>{methods.get(name, {}).get('seconds', '–')}</td>{cells}</tr>"
        )
    first = next(iter(comparison["learned_minus_peer"].values()))["ndcg@10"]
    out.append(
        "</table><p>Δ = stylerec (learned) minus the peer, per customer on test; "
        f"{first['resamples']} paired bootstrap resamples of the customers (seed {first['seed']}), "
        "percentile interval.</p>"
    )
    return "".join(out)


def report_html_page(result: dict[str, Any]) -> str:
    title = f"stylerec evaluation — {result['dataset']}{_label_suffix(result)}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
        ".sr-table{border-collapse:collapse;margin:1em 0}.sr-table td,.sr-table th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:right}.sr-table td:first-child,.sr-table th:first-child{text-align:left}"
        ".sr-simulated{background:#fff3cd;border:1px solid #e0c36c;padding:8px}"
        "</style></head><body>"
        f"<h1>{escape(title)}</h1>{report_html_body(result, sentiment=result.get('sentiment'))}</body></html>"
    )
