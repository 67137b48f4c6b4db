"""Everything about the package is in pyproject.toml; this file only adds one build step.

The example rules repository lives at the top of the source tree (``rules/``, the one a
reader of the README sees). Building the package copies it into the package as
``webhook/example_rules``, where ``egressguard serve`` finds it through
``importlib.resources`` when no other rules are given.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLE_RULES = Path(__file__).resolve().parent / "rules"


class BuildWithExampleRules(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads rules/ from the checkout itself
        if not (EXAMPLE_RULES / "config.yaml").is_file():
            raise SystemExit(f"{EXAMPLE_RULES} is missing: the package ships the example rules")
        target = Path(self.build_lib) / "webhook" / "example_rules"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(EXAMPLE_RULES, target)


setup(cmdclass={"build_py": BuildWithExampleRules})
