"""Train & watch's policy (dashboard/runs/following.py): each rule on a small hand-made case."""
from dashboard.runs import following
from dashboard.runs.following import HEAD_S, PENDING_S, REFRESH_S, STARTING_S, Refresh


def test_started_runs_join_pending_as_of_now_and_keep_the_others():
    assert following.started({"a": 5.0}, ["b", "c"], 100.0) == {"a": 5.0, "b": 100.0, "c": 100.0}
    assert following.started({"a": 5.0}, ["a"], 100.0) == {"a": 100.0}  # started again: its clock restarts
    assert following.started({}, [], 100.0) == {}


def test_a_pending_run_is_dropped_once_listed_or_too_old():
    now = 1000.0
    pending = {"listed": now - 1, "young": now - 1, "old": now - PENDING_S, "nearly": now - PENDING_S + 1}
    assert following.still_pending(pending, ["listed", "other"], now) == {"young": now - 1,
                                                                          "nearly": now - PENDING_S + 1}
    assert following.still_pending({}, ["x"], now) == {}


def test_options_list_pending_runs_first_then_the_listed_ones():
    assert following.options({"new": 1.0}, ["b", "a"]) == ["new", "b", "a"]
    assert following.options({}, []) == []


def test_an_unknown_run_link_is_told_an_absent_or_known_one_is_not():
    assert following.unknown("ghost", ["a", "b"])
    assert not following.unknown("a", ["a", "b"])
    assert not following.unknown(None, ["a"]) and not following.unknown("", ["a"])
    assert following.unknown("a", [])


def test_a_new_run_link_wins_once_over_what_the_session_follows():
    opts = ["a", "b", "c"]
    assert following.choice(["b", "c"], "a", None, opts) == ["a"]  # a link this session has not seen
    assert following.choice(["b", "c"], "a", "c", opts) == ["a"]   # another link than the last one
    assert following.choice(["b", "c"], "a", "a", opts) == ["b", "c"]  # seen: the person's choice stands
    assert following.choice([], "a", "a", opts) == []  # an emptied box stays empty


def test_a_link_picks_the_run_when_nothing_is_chosen_even_if_seen():
    assert following.choice(None, "b", "b", ["a", "b"]) == ["b"]


def test_the_page_picks_when_nothing_is_chosen_and_no_known_link():
    assert following.choice(None, None, None, ["a"]) is None
    assert following.choice(None, "ghost", None, ["a"]) is None


def test_a_choice_keeps_only_offered_runs_and_at_most_two():
    assert following.choice(["gone", "b"], None, None, ["a", "b"]) == ["b"]
    assert following.choice(["a", "b", "c"], None, None, ["a", "b", "c"]) == ["a", "b"]
    assert following.choice(["a", "b"], "ghost", None, ["a", "b"]) == ["a", "b"]  # an unknown link changes nothing


def test_the_default_is_the_first_active_runs_else_the_first_run():
    runs = ["r4", "r3", "r2", "r1"]  # newest first, as reading.runs lists them
    assert following.default(runs, {"r1", "r3", "r2"}) == ["r3", "r2"]  # in the list's order, two at most
    assert following.default(runs, {"r2"}) == ["r2"]
    assert following.default(runs, set()) == ["r4"]
    assert following.default([], set()) == []


def test_busy_while_a_followed_run_is_pending_or_active():
    assert following.busy(["new", "a"], {"new": 1.0}, set())
    assert following.busy(["a", "b"], {}, {"b"})
    assert not following.busy(["a", "b"], {"other": 1.0}, {"c"})
    assert not following.busy([], {"new": 1.0}, {"a"})


def test_a_run_with_nothing_written_is_starting_if_ours_or_young():
    assert following.starting({}, {}, True, None)
    assert following.starting({}, {}, False, STARTING_S - 1)
    assert not following.starting({}, {}, False, STARTING_S)
    assert not following.starting({}, {}, False, None)  # its age unknown (the directory is gone)


def test_a_run_with_a_manifest_or_a_status_is_not_starting():
    assert not following.starting({"mode": "dann"}, {}, True, 0.0)
    assert not following.starting({}, {"state": "failed"}, True, 0.0)


def test_nothing_refreshes_while_no_followed_run_is_busy():
    assert following.refresh(False, 2, True) == Refresh(None, None)
    assert following.refresh(False, 1, False) == Refresh(None, None)


def test_charts_refresh_per_run_shown_once_every_run_is_charted():
    assert following.refresh(True, 1, True) == Refresh(HEAD_S, REFRESH_S)
    assert following.refresh(True, 2, True) == Refresh(HEAD_S, 2 * REFRESH_S)
    assert following.refresh(True, 2, False) == Refresh(HEAD_S, REFRESH_S)  # a run not charted yet: fast
    assert HEAD_S < REFRESH_S  # the heads (λ slider) never wait for the charts


def test_one_full_rerun_slows_the_charts_when_the_last_run_is_charted():
    assert following.slower_once_charted(True, 2, False)
    assert not following.slower_once_charted(True, 2, True)   # already at the slower pace
    assert not following.slower_once_charted(True, 1, False)  # one run: the pace does not change
    assert not following.slower_once_charted(False, 2, False)  # not refreshing at all


def test_a_full_rerun_when_every_followed_run_has_ended():
    assert following.all_ended(True, [False, False])
    assert not following.all_ended(True, [False, True])
    assert not following.all_ended(False, [False])  # not refreshing: nothing to stop


def test_the_method_parameter_picks_a_live_layout_else_pca():
    assert following.method("tsne") == "tsne" and following.method("pca") == "pca"
    assert following.method("umap") == "pca" and following.method(None) == "pca"


def test_a_run_started_here_keeps_its_label_when_its_manifest_arrives(tmp_path, monkeypatch):
    # Streamlit keeps the Follow box's choice as the shown label: a label that changed dropped the run
    import types

    import fixtures

    from dashboard import widgets
    from dashboard.runs import launcher
    root = str(tmp_path)
    started = types.SimpleNamespace(started_as={"pair": "moons", "mode": "cdan", "seed": 4}, poll=lambda: None)
    monkeypatch.setitem(launcher._PROCS, "mine", started)
    before = widgets.run_label(root, "mine")  # no run directory yet
    fixtures.make_run(str(tmp_path / "mine"), mode="cdan", seed=4, pair="moons")
    assert widgets.run_label(root, "mine") == before == "mine  ·  CDAN, moons, seed 4"
    assert widgets.run_label(root, "elsewhere") == "elsewhere"  # not ours, no manifest: its name
