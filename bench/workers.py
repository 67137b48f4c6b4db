"""One worker process against N: closed-loop throughput of ``serve --workers``.

``python -m bench.workers [--workers N] [--seconds 8] [--rounds 2]``

Two egressguard servers on the small rules, ``--workers 1`` and ``--workers N`` (default:
one per CPU, as ``serve`` itself picks), each driven by the load generator's closed loop
(as many requests as its connections can carry) in turn, rounds alternating which goes
first. CPU is the server's process tree (the supervisor and its workers). On a machine
whose cores the load generator and other work share, the ratio says how much of the CPUs
left the workers could use, not what N dedicated cores give.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import report
from bench.compare import SATURATION, load_step
from bench.corpus import SMALLEST, repository
from bench.reviews import pod_mix, write_bodies
from bench.servers import make_certificates, start_egressguard, wait_all_ready
from webhook.server.workers import default_workers

RESULTS = Path(__file__).with_name("results")
CONNECTIONS = 32


def run(workdir: Path, *, workers: int, seconds: float, rounds: int,
        log: Any = print) -> dict[str, Any]:
    certificates = make_certificates(workdir / "certs")
    bodies = write_bodies(workdir / "pods.jsonl", pod_mix(600))
    rules = repository(*SMALLEST)
    servers = [start_egressguard("egressguard-1-worker", rules, certificates, workdir),
               start_egressguard(f"egressguard-{workers}-workers", rules, certificates,
                                 workdir, workers=workers)]
    steps: list[dict[str, Any]] = []
    try:
        wait_all_ready(servers, timeout=120)
        for server in servers:  # warm up, every worker
            load_step(server, bodies, rate=300, seconds=2.0, connections=CONNECTIONS)
        for round_index in range(rounds):
            for server in servers if round_index % 2 == 0 else servers[::-1]:
                step = load_step(server, bodies, rate=SATURATION, seconds=seconds,
                                 connections=CONNECTIONS)
                log(f"  {server.name:<22} {step['achieved_rps']:>6.0f} rps, "
                    f"cpu {step['cpu']:.2f}, {step['errors']} errors")
                steps.append(step)
        memory = {server.name: server.memory() for server in servers}
    finally:
        for server in servers:
            server.stop()

    def best(name: str) -> dict[str, Any]:
        return max((s for s in steps if s["server"] == name), key=lambda s: s["achieved_rps"])

    one, many = best(servers[0].name), best(servers[1].name)
    return {
        "benchmark": "workers",
        "workers": workers,
        "seconds": seconds, "rounds": rounds, "connections": CONNECTIONS,
        "one_worker_rps": round(one["achieved_rps"]), "one_worker_cpu": one["cpu"],
        "n_workers_rps": round(many["achieved_rps"]), "n_workers_cpu": many["cpu"],
        "ratio": round(many["achieved_rps"] / one["achieved_rps"], 2),
        "memory": memory,
        "steps": [{k: s[k] for k in ("server", "achieved_rps", "cpu", "errors")}
                  for s in steps],
    }


def table(result: dict[str, Any]) -> str:
    return (f"closed loop, {result['connections']} connections, best of {result['rounds']}: "
            f"1 worker {result['one_worker_rps']} rps (cpu {result['one_worker_cpu']:.2f}), "
            f"{result['workers']} workers {result['n_workers_rps']} rps "
            f"(cpu {result['n_workers_cpu']:.2f}): {result['ratio']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=max(2, default_workers()))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="egressguard-workers-") as tmp:
        result = run(Path(tmp), workers=args.workers, seconds=args.seconds,
                     rounds=args.rounds, log=lambda line: print(line, file=sys.stderr))
    print(table(result))
    report.save(args.results, "workers", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
