"""Resident memory of ``egressguard serve`` as deployed: loading, reloading, the supervisor.

``python -m bench.memory [--grants 10 100000]``

For each size, one ``serve --workers 1`` watching a copy of the benchmark repository (the
rules watched, as in a cluster; ``python -m bench`` measures with ``--no-watch``):

* load: the peak resident set (``VmHWM``) once the server is ready, and the resident set
  a second later;
* reload: the peak is reset (``/proc/<pid>/clear_refs``), one grant's reason is changed,
  and the peak is read once the new revision is served: the new Policy read and built
  while the old one still serves;
* broken: a grant file is made invalid YAML; the peak while it is read and refused, and
  the check that the revision served did not change.

Then ``serve --workers 2 --metrics-port`` on the smallest rules: the resident set of the
supervisor (the process started) and of each process under it (the workers, and
multiprocessing's resource tracker). Results: ``results/memory.json``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report
from bench.corpus import SIZES, SMALLEST, repository
from bench.servers import Server, free_port, make_certificates, start_egressguard

RESULTS = Path(__file__).with_name("results")
RELOAD_TIMEOUT = 300.0
Log = Callable[[str], None]
_GENERATION = re.compile(r"^egressguard_rules_generation (\S+)$", re.MULTILINE)
_ERRORS = re.compile(r'^egressguard_reload_errors_total\{what="rules"\} (\S+)$', re.MULTILINE)


def status(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of a process, in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def reset_peak(pid: int) -> None:
    """Sets the process's ``VmHWM`` back to its resident set now (Linux 4.0 and later)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rules_state(server: Server) -> tuple[int, int]:
    """(rules generation, rules reload errors) from the server's /metrics."""
    code, body = server.request("GET", "/metrics")
    if code != 200:
        raise RuntimeError(f"/metrics answered {code}")
    text = body.decode()
    generation = _GENERATION.search(text)
    errors = _ERRORS.search(text)
    return (int(float(generation[1])) if generation else 0,
            int(float(errors[1])) if errors else 0)


def wait_for(server: Server, done: Callable[[tuple[int, int]], bool], what: str) -> float:
    """Seconds until ``done(rules_state)`` holds."""
    started = time.monotonic()
    while not done(rules_state(server)):
        if time.monotonic() - started > RELOAD_TIMEOUT:
            raise RuntimeError(f"{server.name}: no {what} within {RELOAD_TIMEOUT:.0f} s")
        time.sleep(0.1)
    return round(time.monotonic() - started, 1)


def a_grant(rules: Path) -> Path:
    """The first grant file of the benchmarked identities (present at every size)."""
    return min((rules / "services" / "shop" / "checkout").glob("*.rule"))


def one_size(workdir: Path, grants: int, destinations: int, log: Log) -> dict[str, Any]:
    rules = workdir / f"rules-{grants}"
    shutil.copytree(repository(grants, destinations), rules, symlinks=True)
    certificates = make_certificates(workdir / "certs")
    server = start_egressguard(f"egressguard-{grants}", rules, certificates, workdir,
                               options=("--reload-debounce-ms", "200"))
    try:
        ready = server.wait_ready(timeout=600)
        pid = server.process.pid
        loaded_peak = status(pid)["VmHWM"]
        time.sleep(1.0)
        result: dict[str, Any] = {
            "grants": grants, "destinations": destinations, "ready_seconds": ready,
            "load_peak_rss_mib": loaded_peak, "steady_rss_mib": status(pid)["VmRSS"],
        }
        generation, errors = rules_state(server)

        reset_peak(pid)
        grant = a_grant(rules)
        grant.write_text("reason: changed for the memory benchmark\n")
        seconds = wait_for(server, lambda state: state[0] > generation, "reload")
        time.sleep(1.0)
        result.update(reload_seconds=seconds, reload_peak_rss_mib=status(pid)["VmHWM"],
                      after_reload_rss_mib=status(pid)["VmRSS"])
        generation += 1

        reset_peak(pid)
        grant.write_text("reason: [not closed\n")
        seconds = wait_for(server, lambda state: state[1] > errors, "refused reload")
        time.sleep(1.0)
        served, _ = rules_state(server)
        if served != generation:
            raise RuntimeError(f"a broken repository changed the rules served "
                               f"(generation {generation} -> {served})")
        result.update(broken_seconds=seconds, broken_peak_rss_mib=status(pid)["VmHWM"],
                      after_broken_rss_mib=status(pid)["VmRSS"], broken_kept_serving=True)
    finally:
        server.stop()
        shutil.rmtree(rules, ignore_errors=True)
    log(f"  {grants:>7,} grants: load peak {result['load_peak_rss_mib']:.0f} MiB, steady "
        f"{result['steady_rss_mib']:.0f}; reload peak {result['reload_peak_rss_mib']:.0f}, "
        f"after {result['after_reload_rss_mib']:.0f}; broken reload peak "
        f"{result['broken_peak_rss_mib']:.0f}")
    return result


def supervisor(workdir: Path, workers: int, log: Log) -> dict[str, Any]:
    certificates = make_certificates(workdir / "certs")
    server = start_egressguard("egressguard-supervised", repository(*SMALLEST), certificates,
                               workdir, workers=workers,
                               options=("--no-watch", "--metrics-port", str(free_port())))
    try:
        server.wait_ready(timeout=120)
        time.sleep(2.0)
        processes = server.processes()
        top = status(processes[0])
        others = [status(pid) for pid in processes[1:]]
    finally:
        server.stop()
    children = sorted(other["VmRSS"] for other in others)
    log(f"  supervisor of {workers} workers (--metrics-port): {top['VmRSS']:.0f} MiB; "
        f"under it: {', '.join(f'{v:.0f}' for v in children)} MiB")
    return {"workers": workers, "supervisor_rss_mib": top["VmRSS"],
            "supervisor_peak_rss_mib": top["VmHWM"], "children_rss_mib": children}


def run(workdir: Path, sizes: list[tuple[int, int]], *, workers: int,
        log: Log = print) -> dict[str, Any]:
    return {
        "benchmark": "memory",
        "sizes": [one_size(workdir, grants, destinations, log)
                  for grants, destinations in sizes],
        "supervisor": supervisor(workdir, workers, log),
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'grants':>8} {'load peak':>10} {'steady':>7} {'reload peak':>12} "
             f"{'after':>6} {'broken peak':>12}   (MiB, one worker, rules watched)"]
    for size in result["sizes"]:
        lines.append(f"{size['grants']:>8,} {size['load_peak_rss_mib']:>10.1f} "
                     f"{size['steady_rss_mib']:>7.1f} {size['reload_peak_rss_mib']:>12.1f} "
                     f"{size['after_reload_rss_mib']:>6.1f} {size['broken_peak_rss_mib']:>12.1f}")
    top = result["supervisor"]
    lines.append(f"supervisor of {top['workers']} workers: {top['supervisor_rss_mib']:.1f} MiB "
                 f"(peak {top['supervisor_peak_rss_mib']:.1f}); processes under it: "
                 f"{', '.join(f'{v:.1f}' for v in top['children_rss_mib'])} MiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes = {grants: destinations for grants, destinations in SIZES}
    parser.add_argument("--grants", type=int, nargs="+", choices=sorted(sizes),
                        default=[SIZES[0][0], SIZES[-1][0]])
    parser.add_argument("--workers", type=int, default=2,
                        help="workers under the supervisor measured (default 2)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="egressguard-memory-") as tmp:
        result = run(Path(tmp), [(grants, sizes[grants]) for grants in args.grants],
                     workers=args.workers, log=lambda line: print(line, file=sys.stderr))
    print(table(result))
    report.save(args.results, "memory", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
