import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _shared_cache(tmp_path_factory):
    # one pair cache for the whole session (building MNIST-M costs seconds), never the user's
    if not os.environ.get("DANN_CACHE"):
        os.environ["DANN_CACHE"] = str(tmp_path_factory.mktemp("dann-cache"))
    yield


@pytest.fixture
def runs_dir(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    return str(d)
