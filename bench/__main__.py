"""Runs the benchmarks and prints their tables; results go to bench/results/.

    python -m bench            # everything: engine, then the load runs (several minutes)
    python -m bench --quick    # the same, short (under a minute once OPA is built)
    python -m bench --only engine|load

The first run builds OPA (a few minutes) and writes the rules repositories (about a
minute); both are cached in ~/.cache/egressguard.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import compare, engine, report, stages
from bench.corpus import LARGEST, SIZES, repository
from bench.rego import ensure_opa

RESULTS = Path(__file__).parent / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    parser.add_argument("--only", choices=("engine", "load"), help="run one part")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where latest.json and latency.png go (default bench/results)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
    }
    # Slow the first time only: the cached repositories and the OPA build.
    for grants, destinations in (SIZES if not args.quick else (SIZES[0], LARGEST)):
        repository(grants, destinations)
    if args.only != "engine":
        ensure_opa(log=log)
    if args.only != "load":
        log("engine micro-benchmarks ...")
        result["engine"] = engine.run(quick=args.quick, log=log)
        print(engine.table(result["engine"]), flush=True)
        result["stages"] = stages.run(quick=args.quick)
        print(stages.table(result["stages"]), flush=True)
    if args.only != "engine":
        log("load runs: egressguard, the null webhook and OPA ...")
        with tempfile.TemporaryDirectory(prefix="egressguard-bench-") as tmp:
            load = compare.run(Path(tmp), quick=args.quick, log=log)
        load["goals"] = report.goals(load, load["large"])
        result["load"] = load
        print(report.table(load))
        print(report.goals_table(load["goals"]))
    result["seconds"] = round(time.monotonic() - started, 1)
    name = "latest-quick" if args.quick else "latest"
    report.save(args.results, name, result)
    if "load" in result:
        report.chart(result["load"], args.results / f"{name}.png")
    print(f"results: {args.results}/{name}.json, {name}.png ({result['seconds']:.0f} s; "
          f"load average at start {result['machine']['load_average_at_start']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
