"""Runs the benchmarks and prints their tables; results go to bench/results/."""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench import engine

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="egressguard-bench-") as tmp:
        result = engine.run(Path(tmp), quick=args.quick)
    result["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(engine.table(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
