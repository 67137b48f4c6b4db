"""What each stage of a request costs inside the running server, under load.

    python -m bench.insitu [--grants 10] [--seconds 6]

``bench/stages.py`` times each stage in a tight loop, where its code and data stay in the
CPU's caches; in the server, aiohttp, TLS and the kernel run between one request's stages,
and the same stages cost more. Here the real server (``webhook.server.runner.start``,
uvloop, audit lines to /dev/null) runs in this process with each stage wrapped in a timer
of the event loop thread's CPU clock, driven closed loop by the load generator in another
process; it prints each stage's CPU microseconds per call, the loop thread's CPU per
request, and the other threads' (the audit writer). The timers cost about a microsecond
per call each.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.corpus import SIZES
from bench.profile import in_process
from webhook.server import admission
from webhook.server.audit import AuditLog
from webhook.server.metrics import Metrics
from webhook.server.runner import start

# (label, owner, attribute): the stages of admission.judge and of the middleware.
STAGES: tuple[tuple[str, Any, str], ...] = (
    ("decode_json", admission, "decode_json"),
    ("parse_review", admission, "parse_review"),
    ("namespace_labels", admission, "namespace_labels"),
    ("evaluate", admission, "evaluate"),
    ("from_decision", admission, "from_decision"),
    ("reply (complete, encode, response)", admission, "reply"),
    ("Metrics.observe", Metrics, "observe"),
    ("AuditLog.record", AuditLog, "record"),
)


@contextmanager
def timed(totals: dict[str, list[int]]) -> Iterator[None]:
    """Wraps every stage in :data:`STAGES` with a thread-CPU timer while inside."""
    originals = [(owner, name, getattr(owner, name)) for _, owner, name in STAGES]

    def wrap(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        total = totals.setdefault(label, [0, 0])

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time_ns()
            try:
                return function(*args, **kwargs)
            finally:
                total[0] += time.thread_time_ns() - started
                total[1] += 1
        return call

    for (label, owner, name), (_, _, original) in zip(STAGES, originals, strict=True):
        setattr(owner, name, wrap(label, original))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


async def measure(*, grants: int, seconds: float, workdir: Path) -> str:
    run = in_process(workdir, grants=grants, reviews=600)
    totals: dict[str, list[int]] = {}
    with timed(totals):
        server = await start(run.settings)
        command = run.load_command(server.url, rate=0, seconds=seconds, connections=16)
        try:
            loader = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
            loop_cpu, all_cpu = time.thread_time(), time.process_time()
            output, _ = await loader.communicate()
            loop_cpu, all_cpu = time.thread_time() - loop_cpu, time.process_time() - all_cpu
        finally:
            await server.stop()
    result = orjson.loads(output)
    answered = result["completed"]
    lines = [f"{answered} reviews closed loop, {result['achieved_rps']:.0f} rps; CPU "
             "microseconds (the event loop thread's):"]
    for label, (nanoseconds, calls) in totals.items():
        if calls:
            lines.append(f"  {label:<36} {nanoseconds / calls / 1000:8.1f} per call, "
                         f"{calls} calls")
    lines.append(f"  {'event loop thread, per review':<36} {loop_cpu / answered * 1e6:8.1f}")
    lines.append(f"  {'other threads, per review':<36} "
                 f"{(all_cpu - loop_cpu) / answered * 1e6:8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.insitu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=SIZES[0][0],
                        choices=[g for g, _ in SIZES])
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    import uvloop

    with tempfile.TemporaryDirectory(prefix="egressguard-insitu-") as tmp, \
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(runner.run(measure(grants=args.grants, seconds=args.seconds,
                                 workdir=Path(tmp))))


if __name__ == "__main__":
    main()
