"""Charts drawn on the server as SVG: no chart library, no script. Each chart has a title and a
description for screen readers, and the page shows the same figures in a table beside it. Colours
come from classes (console.css), never from style attributes (the CSP forbids inline styles)."""
from __future__ import annotations

from markupsafe import Markup, escape

SERIES = 8      # classes .s0 ... .s7 in console.css


def _fmt(n: float) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"


def hbar(title: str, rows: list[tuple[str, float]], width: int = 560, unit: str = "") -> Markup:
    """Horizontal bars, one per (label, value); scales to the width of its container."""
    bar_h, gap, label_w, value_w = 22, 8, 190, 70
    height = max(1, len(rows)) * (bar_h + gap) + gap
    top = max([v for _, v in rows] or [0]) or 1
    inner = width - label_w - value_w
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="t-{id(rows)}" '
             f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="t-{id(rows)}">{escape(title)}</title>']
    for i, (label, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(1.0, inner * value / top) if value else 0
        parts.append(f'<text class="label" x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect class="s{i % SERIES}" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3"/>')
        parts.append(f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">'
                     f'{_fmt(value)}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_columns(title: str, columns: list[str], series: list[str], values: dict[tuple[str, str], float],
                    width: int = 560, height: int = 220) -> Markup:
    """One column per `columns` entry (e.g. a day), stacked by `series` (e.g. a language), with a legend."""
    legend_h, axis_h, left = 24, 22, 34
    plot_h = height - legend_h - axis_h
    totals = [sum(values.get((c, s), 0) for s in series) for c in columns]
    top = max(totals or [0]) or 1
    slot = (width - left) / max(1, len(columns))
    bar_w = min(48.0, slot * 0.7)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="t-{id(values)}" '
             f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="t-{id(values)}">{escape(title)}</title>',
             f'<line class="axis" x1="{left}" y1="{legend_h + plot_h}" x2="{width}" y2="{legend_h + plot_h}"/>',
             f'<text class="value" x="{left - 4}" y="{legend_h + 10}" text-anchor="end">{_fmt(top)}</text>',
             f'<text class="value" x="{left - 4}" y="{legend_h + plot_h}" text-anchor="end">0</text>']
    x = left
    for i, name in enumerate(series):
        parts.append(f'<rect class="s{i % SERIES}" x="{x}" y="4" width="12" height="12" rx="2"/>')
        parts.append(f'<text class="label" x="{x + 16}" y="14">{escape(name)}</text>')
        x += 22 + 8 * len(name)
    for ci, column in enumerate(columns):
        cx = left + ci * slot + (slot - bar_w) / 2
        y = legend_h + plot_h
        for si, name in enumerate(series):
            value = values.get((column, name), 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(f'<rect class="s{si % SERIES}" x="{cx:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                         f'<title>{escape(column)} · {escape(name)}: {_fmt(value)}</title></rect>')
        parts.append(f'<text class="label" x="{cx + bar_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                     f'{escape(column)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
