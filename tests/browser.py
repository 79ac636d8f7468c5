"""What the browser tests share: Debian's Chromium driven by Playwright, and where screenshots go.

Needs Debian's chromium and the playwright python package (Playwright's own browser download
does not work here): apt-get install -y chromium && pip install playwright. Without them the
browser tests FAIL (they do not skip): CI must install them.
"""
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test-output")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = "apt-get install -y chromium && pip install playwright"


def browser_or_fail():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the python package 'playwright' is missing; install it: {INSTALL}")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium: {INSTALL}")
    return sync_playwright


# Text a person must be able to read, in the page's main area and sidebar: buttons (plain, download,
# segmented), widget labels, the shown value of a select box, metric labels and values, page links,
# expander titles, headings; and every text of a plotly chart (titles, annotations, ticks, legend).
READABLE = ", ".join([
    '[data-testid="stButton"] button', '[data-testid="stDownloadButton"] button',
    '[data-testid="stButtonGroup"] button', '[data-testid="stWidgetLabel"]', '[data-testid="stMetricLabel"]',
    '[data-testid="stMetricValue"]', '[data-testid="stPageLink"] a', '[data-testid="stExpander"] summary',
    '[data-testid="stHeading"]', '[data-testid="stSidebarNav"] a', '[data-testid="stSelectbox"] [value]',
    *[f'[data-testid="stMarkdownContainer"] h{i}' for i in range(1, 7)],
    '[data-testid="stSelectbox"] div[data-baseweb="select"] > div > div:first-child',
    '[data-testid="stSelectbox"] input'])

CLIPPED_JS = """sel => {
  // clipped: the text needs more room than its box shows. Either the box itself cuts it (ellipsis,
  // overflow hidden: scrollWidth > clientWidth), or it sticks out of an ancestor that cuts what
  // sticks out (a segmented control wider than its column)
  const out = [];
  // a select box shows its value in an <input> (no text content): its value is its text
  const text = e => (e.tagName === 'INPUT' ? e.value : e.textContent).trim();
  const say = (e, shown, need) =>
    out.push(`${text(e).slice(0, 60)} (${Math.round(shown)}px of ${Math.round(need)}px)`);
  const cuts = e => {
    const cs = getComputedStyle(e);
    return cs.overflowX !== 'visible' || cs.textOverflow === 'ellipsis';
  };
  for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent || !text(el)) continue;     // not displayed, or no text
    let bad = false;
    for (const e of [el, ...el.querySelectorAll('*')]) {
      if (cuts(e) && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1 && text(e)) {
        say(e, e.clientWidth, e.scrollWidth); bad = true; break;
      }
    }
    if (bad) continue;
    const r = el.getBoundingClientRect();
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (!cuts(a)) continue;
      const ar = a.getBoundingClientRect();
      if (r.right > ar.right + 1 || r.left < ar.left - 1) {
        say(el, ar.right - Math.max(r.left, ar.left), r.width);
        break;
      }
    }
  }
  // chart texts (titles, annotations, ticks, legend): each must lie inside its chart, and inside
  // every ancestor that cuts what sticks out (a column narrower than the chart's own width)
  for (const svg of document.querySelectorAll('.js-plotly-plot svg.main-svg:first-of-type')) {
    const plot = svg.closest('.js-plotly-plot');
    if (!plot.offsetParent) continue;
    const boxes = [svg.getBoundingClientRect()];
    for (let a = plot.parentElement; a && a !== document.body; a = a.parentElement)
      if (cuts(a)) boxes.push(a.getBoundingClientRect());
    const left = Math.max(...boxes.map(b => b.left)), right = Math.min(...boxes.map(b => b.right));
    for (const t of svg.parentElement.querySelectorAll('svg text')) {
      const r = t.getBoundingClientRect();
      if (!t.textContent.trim() || r.width === 0) continue;
      if (r.right > right + 1 || r.left < left - 1) say(t, right - Math.max(r.left, left), r.width);
    }
  }
  return [...new Set(out)];
}"""


def start_from_sidebar(page, url, choice, epochs, pace):
    """Start a run from Train & watch's sidebar as a person does: click the radio option
    `choice` (say "both side by side"), type Epochs and the pace (More options), press Start."""
    page.goto(url + "/train", wait_until="domcontentloaded")
    side = page.get_by_test_id("stSidebar")
    side.get_by_text("Start a run").wait_for(timeout=60_000)
    side.get_by_text(choice).click()
    epochs_box = side.get_by_label("Epochs")
    epochs_box.fill(epochs)
    epochs_box.press("Enter")
    side.get_by_text("More options").click()
    pace_box = side.get_by_label("Pace: steps a second (0: full speed)", exact=True)
    pace_box.fill(pace)
    pace_box.press("Enter")
    time.sleep(0.5)  # the last value reaches the server before the click
    side.get_by_role("button", name="Start").click()


# a chart below the fold keeps its last drawing until it comes into view (dashboard/live_chart.py):
# the ones still showing an older figure than their newest
UNDRAWN_JS = """() => [...document.querySelectorAll('.dann-live-chart')]
  .filter(g => g.__dannWant && g.__dannWant.spec !== g.__dannSpec)"""


def show_every_chart(page, timeout=60):
    """Scroll each chart that still shows an older figure into view until it draws its newest, as a
    person scrolling down the page sees it; then back to the top."""
    t0 = time.time()
    while page.evaluate(f"() => ({UNDRAWN_JS})().length"):
        if time.time() - t0 > timeout:
            raise AssertionError(f"charts still not redrawn after {timeout} s of scrolling to them")
        page.evaluate(f"() => {{ const g = ({UNDRAWN_JS})()[0]; if (g) g.scrollIntoView(); }}")
        time.sleep(0.1)
    page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]'); if (m) m.scrollTop = 0; }")


def clipped(page):
    """The readable texts the page cuts off, as 'text (shown px of needed px)', every chart as drawn
    once scrolled to; [] when none."""
    show_every_chart(page)
    return page.evaluate(CLIPPED_JS, READABLE)


# the page has settled: no element of an earlier run still shown as stale, and every plotly chart drawn
SETTLED_JS = """() => !document.querySelector('[data-stale="true"]') &&
  [...document.querySelectorAll('.js-plotly-plot')].every(c => c.querySelector('.main-svg'))"""


def settle(page, quiet_s=0.5, timeout=60):
    """Wait until the page has settled and stayed so for `quiet_s` (a live page redraws every
    second, so its quiet spells are short): a condition, not a guess at how long drawing takes."""
    t0, since = time.time(), None
    while time.time() - t0 < timeout:
        if page.evaluate(SETTLED_JS):
            since = since or time.time()
            if time.time() - since >= quiet_s:
                return time.time() - t0
        else:
            since = None
        time.sleep(0.05)
    raise AssertionError(f"the page did not settle within {timeout} s")
