"""One worker process against N: closed-loop throughput of ``serve --workers``.

``python -m bench.workers [--workers N] [--seconds 8] [--rounds 2] [--threads 1]``

Two egressguard servers on the small rules, ``--workers 1`` and ``--workers N`` (default:
one per CPU, as ``serve`` itself picks), each driven in turn by wrk's closed loop (as many
requests as its connections can carry; wrk is installed with apt-get when missing and run
as root), rounds alternating which goes first. CPU is the server's process tree (the
supervisor and its workers), apart from wrk's own and from what other processes used
meanwhile (/proc/stat). On a machine whose cores the load generator and other work
share, the ratio says how much of the CPUs left the workers could use, not what N
dedicated cores give. Any bad answer or socket error is reported and makes
the command exit 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import report
from bench.corpus import SMALLEST, repository
from bench.reviews import pod_mix, write_bodies
from bench.servers import make_certificates, start_egressguard, wait_all_ready
from bench.wrkload import ensure_wrk, wrk_step
from webhook.server.workers import default_workers

RESULTS = Path(__file__).with_name("results")
CONNECTIONS = 32


def run(workdir: Path, *, workers: int, seconds: float, rounds: int, threads: int = 1,
        log: Any = print) -> dict[str, Any]:
    wrk = ensure_wrk(log)
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
            wrk_step(wrk, server, bodies, seconds=2.0, connections=CONNECTIONS,
                     threads=threads)
        for round_index in range(rounds):
            for server in servers if round_index % 2 == 0 else servers[::-1]:
                step = wrk_step(wrk, server, bodies, seconds=seconds,
                                connections=CONNECTIONS, threads=threads)
                log(f"  {server.name:<22} {step['achieved_rps']:>6.0f} rps, "
                    f"cpu {step['cpu']:.2f}, wrk cpu {step['loadgen_cpu']:.2f}, "
                    f"other processes cpu {step['other_cpu']:.2f}, "
                    f"{step['errors']} errors"
                    + (f" (first: {step['first_bad_answer']!r})" if step["errors"] else ""))
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
        "load_generator": f"wrk, {threads} thread(s)",
        "seconds": seconds, "rounds": rounds, "connections": CONNECTIONS,
        "one_worker_rps": round(one["achieved_rps"]), "one_worker_cpu": one["cpu"],
        "one_worker_loadgen_cpu": one["loadgen_cpu"],
        "n_workers_rps": round(many["achieved_rps"]), "n_workers_cpu": many["cpu"],
        "n_workers_loadgen_cpu": many["loadgen_cpu"],
        "one_worker_other_cpu": one["other_cpu"], "n_workers_other_cpu": many["other_cpu"],
        "ratio": round(many["achieved_rps"] / one["achieved_rps"], 2),
        "errors": sum(s["errors"] for s in steps),
        "memory": memory,
        "steps": steps,
    }


def table(result: dict[str, Any]) -> str:
    """1 worker beside N: rps, the server's cores, the load generator's, and the ratio."""
    n = result["workers"]
    rows = [("", "1 worker", f"{n} workers"),
            ("rps", str(result["one_worker_rps"]), str(result["n_workers_rps"])),
            ("server cpu", f"{result['one_worker_cpu']:.2f}", f"{result['n_workers_cpu']:.2f}"),
            ("load generator cpu", f"{result['one_worker_loadgen_cpu']:.2f}",
             f"{result['n_workers_loadgen_cpu']:.2f}"),
            ("other processes cpu", f"{result['one_worker_other_cpu']:.2f}",
             f"{result['n_workers_other_cpu']:.2f}")]
    lines = [f"closed loop ({result['load_generator']}), {result['connections']} connections, "
             f"{result['seconds']:g} s, best of {result['rounds']}:"]
    lines += [f"  {a:<20}{b:>10}{c:>12}" for a, b, c in rows]
    lines.append(f"  ratio {result['ratio']:.2f}x")
    if result["errors"]:
        lines.append(f"  ERRORS: {result['errors']} bad answers or socket errors over the runs "
                     "(see steps in the result file); the figures are not valid")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=max(2, default_workers()))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="egressguard-workers-") as tmp:
        result = run(Path(tmp), workers=args.workers, seconds=args.seconds,
                     rounds=args.rounds, threads=args.threads,
                     log=lambda line: print(line, file=sys.stderr))
    print(table(result))
    report.save(args.results, "workers", result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
