"""Suite-wide: build the control-plane binaries before any end-to-end test runs, helm and
actionlint before any test marked ``tools``, istioctl and helm before any test of the
injection corpus (tests/inject, or marked ``meshtools``), and OPA before any marked ``opa``.

A first build takes far longer than one test's timeout, so it happens once, after
collection, whenever a selected test needs it, with its progress shown on the terminal.
Under pytest-xdist every worker runs that step: a lock on the cache makes the first one
build and the others wait for it and find the binaries cached.

Under pytest-xdist the tests run side by side in the workers, except that a test marked
``under_load`` (it loads the machine: thousands of connections, hundreds of reviews a
second, worker processes) never runs beside another one, and a test marked ``alone`` (its
verdict is a latency) runs while no other test runs at all. So the under_load files form
one work unit, handed out first (:class:`LoadingFirst`): one worker runs them one after
another while the other runs the rest, rather than both waiting on each other at the end;
then each file goes, costliest first, to whichever worker is free.

Hypothesis runs under one of two profiles (``--hypothesis-profile``): ``dev``, the default,
for quick local runs, and ``ci``, which ``make test`` and ``make unit`` use: more examples,
the same examples on every run (a failure reproduces), and no example database. A test that
names its own ``max_examples`` keeps it under both.
"""

from __future__ import annotations

import fcntl
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from xdist.scheduler import LoadFileScheduling

from bench.rego import ensure_opa
from tests.deploy.tools import build_tools
from tests.e2e.binaries import controlplane_binaries, terminal_output
from tests.e2e.gomodules import cache_dir
from tests.inject.tools import meshtools

INJECT_TESTS = Path(__file__).parent / "inject"
# The files whose tests are marked under_load (the check below keeps this list true).
LOADING_FILES = frozenset({
    "tests/server/test_connections.py", "tests/server/test_drain.py",
    "tests/server/test_limits.py", "tests/server/test_memory.py",
    "tests/server/test_workers.py",
})
LOADING_UNIT = "under-load"
# What a property test costs against an example-based one, to hand out costly files first.
PROPERTY_TEST_COST = 50

# Two CPU cores shared by many processes: timing says nothing about a test's correctness.
_SLOW_MACHINE = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=30, **_SLOW_MACHINE)
settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, print_blob=True, **_SLOW_MACHINE
)
settings.load_profile("dev")


@contextmanager
def one_build_at_a_time() -> Iterator[None]:
    """Holds the build lock of the binaries' cache (shared by every pytest process)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    with one_build_at_a_time():
        build_what_the_tests_need(session)


def build_what_the_tests_need(session: pytest.Session) -> None:
    if any(item.get_closest_marker("e2e") for item in session.items):
        with terminal_output(session.config):
            controlplane_binaries()
    if any(item.get_closest_marker("tools") for item in session.items):
        with terminal_output(session.config):
            build_tools()
    if any(INJECT_TESTS in Path(item.path).parents or item.get_closest_marker("meshtools")
           for item in session.items):
        with terminal_output(session.config):
            meshtools()
    if any(item.get_closest_marker("opa") for item in session.items):
        with terminal_output(session.config):
            ensure_opa()


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Orders the files for :class:`LoadingFirst`: the under_load ones first, then the rest by
    cost, highest first (a file's own tests keep their order)."""
    loading = {_file(item) for item in items if item.get_closest_marker("under_load")}
    stray = loading - LOADING_FILES
    if stray:
        raise pytest.UsageError(f"add {sorted(stray)} to LOADING_FILES in tests/conftest.py")
    cost: dict[str, float] = {}
    for item in items:
        hypothesis = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        cost[_file(item)] = cost.get(_file(item), 0) + (PROPERTY_TEST_COST if hypothesis else 1)
    items.sort(key=lambda item: (_file(item) not in LOADING_FILES, -cost[_file(item)]))


class LoadingFirst(LoadFileScheduling):
    """``--dist loadfile`` with every under_load file in one work unit, in collection order
    (which puts it first) rather than by the number of tests."""

    def _split_scope(self, nodeid: str) -> str:
        path = super()._split_scope(nodeid)
        return LOADING_UNIT if path in LOADING_FILES else path


@pytest.hookimpl(optionalhook=True)  # with -p no:xdist there is no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadFileScheduling | None:
    if config.getvalue("dist") != "loadfile":
        return None
    config.option.loadscopereorder = False
    return LoadingFirst(config, log)


@contextmanager
def turn(item: pytest.Item) -> Iterator[None]:
    """Waits until ``item`` may run beside what the other xdist workers run, and holds that.

    Locks over the workers of one run, in the run's base temporary folder: every test holds
    ``running`` shared, an ``alone`` test holds it exclusively, and an ``under_load`` test
    also holds ``under-load`` exclusively. The ``gate`` keeps a waiting ``alone`` test from
    being overtaken by tests that start after it.
    """
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None or item.config.option.basetemp is None:
        yield  # one process: every test is alone already
        return
    folder = Path(item.config.option.basetemp).parent  # the controller's, shared
    alone = item.get_closest_marker("alone") is not None
    under_load = item.get_closest_marker("under_load") is not None
    with (folder / "gate.lock").open("a") as gate, \
            (folder / "running.lock").open("a") as running, \
            (folder / "under-load.lock").open("a") as loading:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(running, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        if under_load:  # taken last, and held by no test that waits for another lock
            fcntl.flock(loading, fcntl.LOCK_EX)
        yield  # the locks go with the files' closing


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, Any, Any]:
    with turn(item):
        return (yield)
