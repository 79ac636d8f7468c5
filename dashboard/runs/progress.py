"""Runs shown side by side at equal training progress, pure: the run ahead waits for the run
behind, so two panels never show step 600 beside step 500 of the same kind of training.

A run that has ended (finished, stopped, failed) will not catch up: it holds no one back. Each
panel then shows its own newest checkpoint up to that limit, and says so when it waits."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Shown:
    step: object      # the checkpoint step to show (None: no checkpoint yet)
    newest: object    # the run's newest checkpoint step (None: none)

    @property
    def waiting(self):
        """The panel shows an older checkpoint than the run has: it waits for the other."""
        return self.step is not None and self.newest is not None and self.step < self.newest


def shown_steps(runs):
    """{name: Shown} for `runs` {name: (checkpoint steps ascending, still going)}: the limit is
    the smallest newest step among the runs still going (none: no limit); each run shows its
    largest step up to the limit, or, having none that low, its first (nothing older exists)."""
    going = [steps[-1] for steps, active in runs.values() if active and steps]
    waiting_for_first = any(active and not steps for steps, active in runs.values())
    limit = min(going) if going else None
    out = {}
    for name, (steps, _) in runs.items():
        if not steps:
            out[name] = Shown(None, None)
            continue
        if waiting_for_first and len(runs) > 1:
            # a run still going has no checkpoint yet: show the others' first, where it will start
            out[name] = Shown(steps[0], steps[-1])
            continue
        upto = [s for s in steps if limit is None or s <= limit]
        out[name] = Shown(upto[-1] if upto else steps[0], steps[-1])
    return out


def caption(shown, other_names=()):
    """The line under a waiting panel: which step it shows and why; '' when it shows its newest."""
    if not shown.waiting:
        return ""
    who = " and ".join(other_names) or "the other run"
    return f"Showing step {shown.step} (this run is at {shown.newest}): waiting for {who} to reach it."
