import importlib.util
import os
import re

# an experiment script, not a module of the package: loaded from its file
_spec = importlib.util.spec_from_file_location(
    "reverse_validation", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
                                       "reverse_validation.py"))
reverse_validation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reverse_validation)


def test_reverse_validation_scores_and_picks_on_moons(capsys):
    reverse_validation.main(["--pair", "moons", "--seeds", "0", "--lambdas", "0", "6"])
    out = capsys.readouterr().out
    rows = re.findall(r"λ (\d+): target ([\d.]+) reverse ([\d.]+)", out)
    assert [r[0] for r in rows] == ["0", "6"]
    target = {lam: float(t) for lam, t, _ in rows}
    reverse = {lam: float(v) for lam, _, v in rows}
    # the reverse model learns from the forward model's target labels and is scored on the source:
    # a good forward model (DANN) gives a reverse model far above chance on the source
    assert target["6"] > target["0"] and reverse["6"] > 0.8 and all(0 <= v <= 1 for v in reverse.values())
    pick = re.search(r"pick λ (\d+) \(target ([\d.]+)\)", out)
    assert pick and reverse[pick.group(1)] == max(reverse.values())
    assert "mean target accuracy: reverse-validation pick" in out
