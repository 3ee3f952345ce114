"""Words on screen over time, as an SVG (no plotting library): for one question, when the model wrote each word
and when each strategy's Slack showed it. Pure: curves in, SVG text out."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 760, 380
LEFT, RIGHT, TOP, BOTTOM = 56, 210, 24, 44
COLOURS = ["#1b7f3b", "#1f5fbf", "#c2410c", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#475569"]


def svg(curves: dict[str, list[float]], *, title: str) -> str:
    """`curves`: label → the seconds at which each word appeared (sorted), the first being the model's own."""
    end = max((max(times) for times in curves.values() if times), default=1.0) * 1.05 or 1.0
    words = max((len(times) for times in curves.values()), default=1) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(seconds: float) -> float:
        return LEFT + plot_w * min(seconds, end) / end

    def y(count: int) -> float:
        return TOP + plot_h * (1 - count / words)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>']
    step = _tick(end)
    tick = 0.0
    while tick <= end:
        parts.append(f'<text x="{x(tick):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{tick:g}</text>')
        tick += step
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">seconds after the model\'s '
                 'first word</text>')
    parts.append(f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" transform="rotate(-90 14 '
                 f'{TOP + plot_h / 2})">words on screen</text>')
    for number, (label, times) in enumerate(curves.items()):
        colour = COLOURS[number % len(COLOURS)]
        points = [(x(0), y(0))]
        for count, at in enumerate(times, start=1):
            points += [(x(at), y(count - 1)), (x(at), y(count))]
        if times:
            points.append((x(end), y(len(times))))
        dash = ' stroke-dasharray="4 3"' if number == 0 else ""
        width = 2.5 if number == 1 else 1.5
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}"{dash} points="'
                     + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
        legend_y = TOP + 14 + 18 * number
        parts.append(f'<line x1="{WIDTH - RIGHT + 12}" y1="{legend_y - 4}" x2="{WIDTH - RIGHT + 36}" '
                     f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="{width}"{dash}/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 42}" y="{legend_y}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _tick(end: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 30, 60):
        if end / step <= 10:
            return step
    return 120.0
