"""Runs side by side at equal progress (dashboard/runs/progress.py): the run ahead waits."""
from dashboard.runs.progress import Shown, caption, shown_steps

GRID = list(range(0, 1001, 100))


def test_the_run_ahead_waits_for_the_run_behind():
    s = shown_steps({"so": (GRID[:6], True), "dann": (GRID[:7], True)})  # at 500 and 600
    assert s["so"] == Shown(500, 500) and not s["so"].waiting
    assert s["dann"] == Shown(500, 600) and s["dann"].waiting
    assert caption(s["dann"], ["so"]) == "Showing step 500 (this run is at 600), the newest step so has too."
    assert caption(s["so"], ["dann"]) == ""


def test_an_ended_run_holds_no_one_back_and_a_going_one_holds_an_ended_one():
    # a finished short run beside a live one: the live one shows its newest
    s = shown_steps({"old": ([0, 100, 200], False), "live": (GRID, True)})
    assert s["old"] == Shown(200, 200) and s["live"] == Shown(1000, 1000)
    # a run that finished first waits at the progress of the one still going
    s = shown_steps({"first": (GRID, False), "second": (GRID[:4], True)})
    assert s["first"] == Shown(300, 1000) and s["second"] == Shown(300, 300)
    # both ended: each its newest
    s = shown_steps({"a": (GRID, False), "b": (GRID[:4], False)})
    assert s["a"].step == 1000 and s["b"].step == 300


def test_a_run_without_checkpoints_yet():
    s = shown_steps({"started": ([], True), "other": (GRID[:3], True)})
    assert s["started"] == Shown(None, None) and not s["started"].waiting
    assert s["other"] == Shown(0, 200)  # waits at the first step for the run just starting
    assert shown_steps({"alone": (GRID[:3], True)})["alone"] == Shown(200, 200)
    assert shown_steps({}) == {}


def test_the_same_step_side_by_side_where_both_have_it():
    # the run behind has 1100, the run ahead skipped it: both show 1000, the newest step both have
    s = shown_steps({"so": ([0, 1000, 1200], True), "dann": ([0, 1000, 1100], True)})
    assert s["so"] == Shown(1000, 1200) and s["dann"] == Shown(1000, 1100)
    assert s["so"].waiting and s["dann"].waiting


def test_different_checkpoint_grids():
    # no step in common but 0: each shows its largest step up to the limit (not 0), or its first
    s = shown_steps({"a": ([0, 50, 150, 250], True), "b": ([0, 100, 200], True)})
    assert s["a"].step == 150 and s["b"].step == 200
    s = shown_steps({"a": ([50, 150, 250], True), "b": ([100, 200], True)})
    assert s["a"].step == 150 and s["b"].step == 200
    s = shown_steps({"a": ([100, 200], True), "b": ([0, 50], True)})
    assert s["a"].step == 100 and s["b"].step == 50
