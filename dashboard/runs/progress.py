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
    """{name: Shown} for `runs` {name: (checkpoint steps ascending, still going)}.

    The limit is the smallest newest step among the runs still going (none going: each shows its
    newest). The runs whose newest step reaches the limit show the largest step up to it that
    all of them have (the same step side by side), unless it is older than one of them's own
    largest step up to the limit: then each shows that, or, having none that low, its first. A run
    that ended behind the limit shows its newest."""
    going = [steps[-1] for steps, active in runs.values() if active and steps]
    if len(runs) > 1 and any(active and not steps for steps, active in runs.values()):
        # a run still going has no checkpoint yet: the others wait at their first
        return {n: Shown(steps[0], steps[-1]) if steps else Shown(None, None) for n, (steps, _) in runs.items()}
    if not going:  # none is going: nothing to wait for
        return {n: Shown(steps[-1], steps[-1]) if steps else Shown(None, None) for n, (steps, _) in runs.items()}
    limit = min(going)
    front = {n: [s for s in steps if s <= limit] for n, (steps, _) in runs.items()
             if steps and steps[-1] >= limit}
    common = set.intersection(*(set(v) for v in front.values())) if len(front) > 1 else set()
    # a step in common is shown only where it is no older than the runs' own nearest (grids that
    # meet only at step 0 would freeze the panels there)
    nearest = min((v[-1] for v in front.values() if v), default=None)
    common = {c for c in common if nearest is not None and c >= nearest}
    out = {}
    for name, (steps, _) in runs.items():
        if not steps:
            out[name] = Shown(None, None)
        elif name not in front:
            out[name] = Shown(steps[-1], steps[-1])
        else:
            upto = front[name]
            out[name] = Shown(max(common) if common else upto[-1] if upto else steps[0], steps[-1])
    return out


def caption(shown, other_names=()):
    """The line under a panel held back: which step it shows and why; '' when it shows its newest."""
    if not shown.waiting:
        return ""
    who = " and ".join(other_names) or "the other run"
    return f"Showing step {shown.step} (this run is at {shown.newest}), the newest step {who} has too."
