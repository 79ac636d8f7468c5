"""Which runs Train & watch follows, which started runs it waits for, and how often it redraws
them: the page's policy on plain data (run names, times, query parameters). No Streamlit:
dashboard/views/train.py reads the runs and the session, asks these, and arranges."""
from dataclasses import dataclass

MAX_FOLLOWED = 2     # runs followed side by side: two fit a projector screen
PENDING_S = 600.0    # a started run not listed by then is dropped: its trainer never wrote a manifest
STARTING_S = 90.0    # a run directory this young without a manifest is starting, not broken
HEAD_S = 1.0         # refresh of each run's status, λ slider and buttons (cheap)
REFRESH_S = 2.0      # refresh of the charts, per run followed (`refresh` says why)
METHODS = ("pca", "tsne")  # the layouts the live view offers (?method= picks one)


def started(pending, names, now):
    """`pending` with the runs just started added, each as of `now`."""
    return {**pending, **{n: now for n in names}}


def still_pending(pending, runs, now):
    """The started runs not yet among `runs` (those with a manifest) and started under PENDING_S ago."""
    return {n: t for n, t in pending.items() if n not in runs and now - t < PENDING_S}


def options(pending, runs):
    """What the Follow box offers: the runs still pending first, then the listed runs."""
    return list(pending) + list(runs)


def unknown(wanted, options):
    """True when ?run= names a run the page does not offer (it says so and shows the others)."""
    return bool(wanted) and wanted not in options


def choice(chosen, wanted, last_wanted, options):
    """The runs to follow, or None when the page is to pick them (`default`).

    `chosen`: the session's choice (None: none yet); `wanted`: the ?run= name; `last_wanted`: the
    ?run= name of the session's previous run of the page. A link the session has not seen wins,
    once, over the runs it follows: after that, the person's choice stands."""
    if wanted in options and (wanted != last_wanted or chosen is None):
        return [wanted]
    if chosen is None:
        return None
    return [n for n in chosen if n in options][:MAX_FOLLOWED]


def default(runs, active):
    """Nothing chosen and no link: the first active runs (`runs`' order), else the first run."""
    return [n for n in runs if n in active][:MAX_FOLLOWED] or list(runs)[:1]


def busy(followed, pending, active):
    """A followed run is pending or active: the page keeps refreshing."""
    return any(n in pending or n in active for n in followed)


def starting(manifest, status_raw, ours, age_s):
    """A run with neither manifest nor status is starting, not broken, when this dashboard started
    its trainer (`ours`) or its directory is under STARTING_S old (`age_s`; None: unknown)."""
    return not manifest and not status_raw and (ours or (age_s is not None and age_s < STARTING_S))


@dataclass(frozen=True)
class Refresh:
    heads: float | None   # seconds between redraws of the heads (status, λ slider, buttons); None: none
    bodies: float | None  # seconds between redraws of the bodies (embedding, curves); None: none


def refresh(busy, n_followed, charted):
    """How often the heads and the bodies redraw. Chromium redraws each run's two charts whole at
    every refresh, and two runs every 2 s kept its main thread busy without a pause on two cores,
    the λ slider seconds behind: so REFRESH_S per run followed. Until every followed run is
    `charted` (has a checkpoint) REFRESH_S: a run just started shows its first embedding soon."""
    if not busy:
        return Refresh(None, None)
    return Refresh(HEAD_S, REFRESH_S * n_followed if charted else REFRESH_S)


def slower_once_charted(busy, n_followed, charted):
    """The bodies' refresh slows down when every followed run is charted (a full rerun sets it):
    with more than one run, and only while not every one was charted when the page last ran."""
    return busy and not charted and n_followed > 1


def all_ended(busy, still_going):
    """Every followed run has ended while the page refreshed: a full rerun stops the timers."""
    return busy and not any(still_going)


def method(query):
    """The live layout a ?method= value asks for; PCA for anything else."""
    return query if query in METHODS else "pca"
