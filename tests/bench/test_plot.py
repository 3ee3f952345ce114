"""The README's picture: words on screen over time, drawn as SVG from the benchmark's curves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bench.plot import svg


def test_each_curve_is_a_stepped_line_with_its_label():
    curves = {"the model writes": [0.0, 0.1, 0.2], "this bot": [0.05, 0.15, 0.3], "edit only": [1.0, 1.0, 2.0]}
    root = ET.fromstring(svg(curves, title="One answer"))
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    labels = [text.text for text in root.findall("{http://www.w3.org/2000/svg}text")]
    assert len(lines) == 3 and {"the model writes", "this bot", "edit only", "One answer"} <= set(labels)
    steps = [tuple(map(float, point.split(","))) for point in lines[2].get("points").split()]
    assert len(steps) == 2 + 2 * 3  # from the origin, up a word at each time, on to the end
    heights = [y for _, y in steps]
    assert heights == sorted(heights, reverse=True)  # words only ever appear (y grows downwards)


def test_a_strategy_that_showed_nothing_is_a_flat_line():
    root = ET.fromstring(svg({"the model writes": [0.0, 1.0], "stuck": []}, title="t"))
    [_, stuck] = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(stuck.get("points").split()) == 1
