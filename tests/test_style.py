"""One colour, one meaning (dashboard/plots/style.py): no colour stands for two things, and no
method is drawn in a domain's colour."""
import pytest

from dann_core.methods.modes import MODES
from dashboard.plots import style
from dashboard.plots.curves import CURVE_STYLE, compare_curves_figure, split_metrics


def _rgb(c):
    c = c.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def test_no_colour_serves_two_meanings():
    seen = {}
    for meaning, colour in style.MEANINGS.items():
        c = colour.lower()
        assert c not in seen, f"{colour} means both {seen[c]!r} and {meaning!r}"
        seen[c] = meaning


def test_method_and_class_colours_are_far_from_the_domain_colours():
    # far in RGB too, not only another hex: "#f07718" beside the target's orange would read as it
    for m, c in {**style.METHOD_COLOURS, **{f"other {i}": c for i, c in enumerate(style.OTHER_RUNS)},
                 **{f"class {i}": c for i, c in enumerate(style.CLASS_COLOURS)}}.items():
        for dom, d in style.DOMAIN_COLOURS.items():
            dist = sum((a - b) ** 2 for a, b in zip(_rgb(c), _rgb(d))) ** 0.5
            assert dist > 90, f"method {m} ({c}) looks like the {dom} domain ({d}): RGB distance {dist:.0f}"


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_has_its_own_colour(mode):
    assert style.method_colour(mode) == style.METHOD_COLOURS[mode]


def test_every_drawn_curve_colour_has_its_meaning():
    known = {c.lower() for c in style.MEANINGS.values()}
    for name, (_, spec) in CURVE_STYLE.items():
        colour = (spec.get("line") or spec.get("marker"))["color"]
        assert colour.lower() in known, f"curve {name!r} in {colour}, a colour with no meaning in style.MEANINGS"


def test_compare_curves_draw_a_run_in_its_methods_colour():
    recs = [{"step": s, "progress": s / 100, "eval": True, "target_acc": 0.5, "linear_domain_err": 0.3}
            for s in (0, 50, 100)]
    _, ev = split_metrics(recs)
    fig = compare_curves_figure({"source-only (a)": ev, "DANN (b)": ev},
                                modes={"source-only (a)": "source_only", "DANN (b)": "dann"})
    colours = {t.name: t.line.color for t in fig.data}
    assert colours["source-only (a)"] == style.METHOD_COLOURS["source_only"]
    assert colours["DANN (b)"] == style.METHOD_COLOURS["dann"]
    assert not set(colours.values()) & set(style.DOMAIN_COLOURS.values())
