"""Shared pytest fixtures."""

from __future__ import annotations

import pytest

# --- demo cohort fixtures (hccfusion.demo) ----------------------------------------------------
DEMO_SEED = 1


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """The tiny demo cohort with images (seed 1), generated once per session; returns its Path."""
    from hccfusion.demo import generate_demo

    out = tmp_path_factory.mktemp("tiny_demo") / "demo"
    generate_demo(out, seed=DEMO_SEED, scale="tiny", images=True)
    return out


@pytest.fixture(scope="session")
def tiny_demo_tables(tmp_path_factory):
    """The default-scale demo cohort without images (seed 1), for statistical checks."""
    from hccfusion.demo import generate_demo

    out = tmp_path_factory.mktemp("demo_tables") / "demo"
    generate_demo(out, seed=DEMO_SEED, scale="default", images=False)
    return out
# --- end of demo cohort fixtures --------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """The longest file first: the tiny end-to-end run (tests/test_tiny_run.py) is the suite's
    critical path, so with `--dist loadfile --no-loadscope-reorder` its worker starts it at once
    while the other worker takes the rest."""
    items.sort(key=lambda item: item.path.name != "test_tiny_run.py")
