"""Charts drawn on the server as inline SVG (no JavaScript, no network): stacked bars over
time, lines, and horizontal bars. Colours come from CSS variables, so one SVG serves the light
and the dark theme. Every drawn value is an element of class `mark` with a <title> tooltip."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

Fmt = Callable[[float], str]
WIDTH, HEIGHT = 720, 230
LEFT, RIGHT, TOP, BOTTOM = 58, 10, 12, 26
PALETTE = 8


def _nice_max(value: float) -> tuple[float, float]:
    """A round axis maximum above value and its tick step (4 ticks)."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step * 4 >= value:
            return step * 4, step
    return magnitude * 40, magnitude * 10


def _axes(
    max_value: float,
    fmt: Fmt,
    labels: Sequence[str],
    width: int = WIDTH,
    scale: tuple[float, float] | None = None,
) -> tuple[list[str], float]:
    top, step = scale or _nice_max(max_value)
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    ticks = round(top / step)
    for k in range(ticks + 1):
        v = k * step
        y = TOP + plot_h - v / top * plot_h
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(v))}</text>"
        )
    n = max(len(labels), 1)
    band = (width - LEFT - RIGHT) / n
    every = max(1, math.ceil(n / (9 * width / WIDTH)))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + band * (i + 0.5)
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts, top


def _svg(parts: Sequence[str], label: str, width: int = WIDTH) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        + "".join(parts)
        + "</svg>"
    )


def _empty(label: str) -> Markup:
    return Markup(
        f'<div class="chart-empty" role="note">{escape(label)}: nothing recorded '
        "in this period</div>"
    )


def _color(k: int, name: str, colors: Sequence[int] | None) -> int:
    if colors:
        return colors[k] % PALETTE
    return PALETTE - 1 if name == "other" else k % (PALETTE - 1)


def legend(names: Sequence[str], colors: Sequence[int] | None = None) -> Markup:
    items = []
    for i, name in enumerate(names):
        c = _color(i, name, colors)
        items.append(f'<span class="key"><i class="swatch c{c}"></i>{escape(name)}</span>')
    return Markup(f'<div class="legend">{"".join(items)}</div>')


def stacked_bars(
    labels: Sequence[str],
    titles: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    fmt: Fmt,
    label: str,
    colors: Sequence[int] | None = None,
    width: int = WIDTH,
    limit: float | None = None,
) -> Markup:
    """Bars per bucket, stacked by series (e.g. cost per day by model); `limit` draws a
    dashed line (a budget) across."""
    totals = [sum(values[i] or 0 for _, values in series) for i in range(len(labels))]
    if not series or not any(totals):
        return _empty(label)
    parts, top = _axes(max(max(totals), limit or 0), fmt, labels, width)
    plot_h = HEIGHT - TOP - BOTTOM
    band = (width - LEFT - RIGHT) / len(labels)
    bar = max(1.0, band * 0.72)
    for i in range(len(labels)):
        y: float = TOP + plot_h
        x = LEFT + band * i + (band - bar) / 2
        for k, (name, values) in enumerate(series):
            v = values[i] or 0
            if v <= 0:
                continue
            h = v / top * plot_h
            y -= h
            c = _color(k, name, colors)
            parts.append(
                f'<rect class="mark c{c}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{max(h, 0.5):.1f}" rx="1.5"><title>{escape(titles[i])} · '
                f"{escape(name)}: {escape(fmt(v))} (total {escape(fmt(totals[i]))})"
                "</title></rect>"
            )
    if limit:
        line = TOP + plot_h - limit / top * plot_h
        parts.append(
            f'<line class="limit" x1="{LEFT}" x2="{width - RIGHT}" y1="{line:.1f}" '
            f'y2="{line:.1f}"><title>limit {escape(fmt(limit))}</title></line>'
        )
    return _svg(parts, label, width)


def lines(
    labels: Sequence[str],
    titles: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Fmt,
    label: str,
    scale: tuple[float, float] | None = None,
    colors: Sequence[int] | None = None,
) -> Markup:
    """One line per series over the buckets; None values leave a gap. `scale` fixes the
    axis (top, step), e.g. (5, 1) for ratings."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not values:
        return _empty(label)
    parts, top = _axes(max(values), fmt, labels, scale=scale)
    plot_h = HEIGHT - TOP - BOTTOM
    band = (WIDTH - LEFT - RIGHT) / len(labels)
    for k, (name, vs) in enumerate(series):
        c = _color(k, name, colors)
        path: list[tuple[float, float] | None] = []
        points: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                path.append(None)
                continue
            x = LEFT + band * (i + 0.5)
            y = TOP + plot_h - v / top * plot_h
            path.append((x, y))
            points.append(
                f'<circle class="mark dot c{c}" cx="{x:.1f}" cy="{y:.1f}" r="3.2">'
                f"<title>{escape(titles[i])} · {escape(name)}: {escape(fmt(v))}</title></circle>"
            )
        d, pen = [], "M"
        for p in path:
            if p is None:
                pen = "M"
                continue
            d.append(f"{pen}{p[0]:.1f},{p[1]:.1f}")
            pen = "L"
        parts.append(f'<path class="line c{c}" d="{" ".join(d)}"/>')
        parts += points
    return _svg(parts, label)


def hbars(
    items: Sequence[tuple[str, float, str]],
    label: str,
    color: int = 0,
    href: Callable[[str], str] | None = None,
) -> Markup:
    """Horizontal bars (label, value, shown text), longest first as given."""
    if not items or not any(v for _, v, _ in items):
        return _empty(label)
    top = max(v for _, v, _ in items) or 1
    rows = []
    for name, value, shown in items:
        pct = max(0.5, value / top * 100) if value else 0
        text = escape(name)
        if href is not None:
            text = Markup(f'<a href="{escape(href(name))}">{text}</a>')
        rows.append(
            f'<div class="hrow"><div class="hlabel" title="{escape(name)}">{text}</div>'
            f'<div class="htrack"><div class="hbar mark c{color % PALETTE}" '
            f'style="width:{pct:.1f}%" title="{escape(name)}: {escape(shown)}"></div></div>'
            f'<div class="hvalue">{escape(shown)}</div></div>'
        )
    return Markup(
        f'<div class="hbars" role="img" aria-label="{escape(label)}">' + "".join(rows) + "</div>"
    )


def meter(value: float, limit: float, label: str, neutral: bool = False) -> Markup:
    """A progress bar of value against limit (green, amber over 80 %, red at the limit; one
    colour when neutral)."""
    ratio = value / limit if limit else (1.0 if value else 0.0)
    state = "over" if ratio >= 1 else "warn" if ratio >= 0.8 else "ok"
    state = "neutral" if neutral else state
    pct = min(100.0, ratio * 100)
    return Markup(
        f'<div class="meter {state}" role="meter" aria-label="{escape(label)}" '
        f'aria-valuenow="{value:.2f}" aria-valuemin="0" aria-valuemax="{limit:.2f}">'
        f'<div class="meter-fill mark" style="width:{pct:.1f}%"></div></div>'
    )


KIND_COLORS = {"api": 7, "interaction": 0, "issue": 3, "commit": 1, "note": 2}


def timeline_strip(
    start: int, end: int, runs: Sequence[tuple[int, int]], points: Sequence[tuple[int, str, str]]
) -> Markup:
    """A session over time: its runs as bars, interactions, issues, commits and notes as
    ticks (hover for the text)."""
    width, height, pad = 1000, 54, 6
    span = max(end - start, 1)

    def x(ms: int) -> float:
        return pad + (min(max(ms, start), end) - start) / span * (width - 2 * pad)

    parts = [f'<rect class="lane" x="{pad}" y="6" width="{width - 2 * pad}" height="18" rx="4"/>']
    for a, b in runs:
        parts.append(
            f'<rect class="mark c4" x="{x(a):.1f}" y="6" width="{max(x(b) - x(a), 2):.1f}" '
            'height="18" rx="3" opacity=".55"><title>agent turn</title></rect>'
        )
    for ts, kind, text in sorted(points, key=lambda p: p[1] != "api"):  # API ticks beneath
        c = KIND_COLORS.get(kind, 7)
        parts.append(
            f'<rect class="mark c{c}" x="{x(ts) - 1:.1f}" y="30" width="3" height="18" '
            f'rx="1"><title>{escape(kind)}: {escape(text[:200])}</title></rect>'
        )
    return Markup(
        f'<svg class="strip" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        'role="img" aria-label="Session timeline">' + "".join(parts) + "</svg>"
    )
