"""How pytest runs these notebooks (nbval, `make test` and `make test-gpu`): each notebook's cells
in order on one pytest-xdist worker, since they share one kernel (`--dist loadgroup` keeps an
xdist group together)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before xdist names the items after their groups
def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".ipynb" and HERE in item.path.parents:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
