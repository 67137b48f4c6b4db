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

    python -m bench.insitu --floor [--grants 10] [--seconds 6]

The floor of this request path: the same closed loop against, in turn, egressguard as it
is; egressguard with the engine's decision taken from the first answer to the same review
(no judging), then also without the audit line and the metrics, then with the null
webhook's handler in place of egressguard's (what egressguard's listener, middleware and
application cost by themselves); and the null webhook (``bench.null``: the same listener,
TLS, body reading and decoding, nothing else). Each row
gives answers per second and per CPU second of the whole process, and that as a share of
the null's: what judging, auditing and counting cost, and what the rest of the request path
costs even without them.
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
from bench.null import allow, serve_null
from bench.profile import InProcess, in_process
from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest
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


# The floor's rows: what each run leaves out of egressguard's request path.
FLOOR: tuple[tuple[str, frozenset[str]], ...] = (
    ("egressguard", frozenset()),
    ("  no judging", frozenset({"engine"})),
    ("  no judging, audit, metrics", frozenset({"engine", "audit", "metrics"})),
    ("  the null webhook's handler", frozenset({"handler"})),
)


@contextmanager
def left_out(parts: frozenset[str]) -> Iterator[None]:
    """egressguard with ``parts`` (engine, audit, metrics) taken out of the request path:
    the engine answers each review with its first decision for the same uid; with
    ``handler``, the null webhook's handler answers in place of ``/mutate`` and
    ``/validate``, behind egressguard's own listener, middleware and application."""
    replaced: list[tuple[Any, str, Any]] = []

    def replace(owner: Any, name: str, value: Any) -> None:
        replaced.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    if "engine" in parts:
        answers: dict[str, Decision] = {}

        def remembered(request: AdmissionRequest, *args: Any, **kwargs: Any) -> Decision:
            answer = answers.get(request.uid)
            if answer is None:
                answer = answers[request.uid] = evaluate(request, *args, **kwargs)
            return answer
        replace(admission, "evaluate", remembered)
    if "audit" in parts:
        replace(AuditLog, "record", lambda self, **kwargs: None)
    if "metrics" in parts:
        replace(Metrics, "observe", lambda self, **kwargs: None)
    if "handler" in parts:
        replace(admission, "mutate", allow)
        replace(admission, "validate", allow)
    try:
        yield
    finally:
        for owner, name, original in reversed(replaced):
            setattr(owner, name, original)


async def _closed_loop(run: InProcess, url: str, seconds: float) -> tuple[int, float, float]:
    """(answers, answers per second, process CPU seconds) of one closed-loop run."""
    command = run.load_command(url, rate=0, seconds=seconds, connections=16)
    loader = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    cpu = time.process_time()
    output, _ = await loader.communicate()
    cpu = time.process_time() - cpu
    result = orjson.loads(output)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} reviews failed: {result['error_kinds']}")
    return result["completed"], result["achieved_rps"], cpu


async def floor(*, grants: int, seconds: float, workdir: Path) -> str:
    run = in_process(workdir, grants=grants, reviews=600)
    rows: list[tuple[str, float, float]] = []
    for label, parts in FLOOR:
        with left_out(parts):
            server = await start(run.settings)
            try:
                answered, rps, cpu = await _closed_loop(run, server.url, seconds)
            finally:
                await server.stop()
        rows.append((label, rps, answered / cpu))
    async with serve_null(cert=run.settings.cert, key=run.settings.key, host="127.0.0.1",
                          port=0) as url:
        answered, rps, cpu = await _closed_loop(run, url, seconds)
    rows.append(("null webhook", rps, answered / cpu))
    null = rows[-1][2]
    lines = [f"closed loop, 16 connections, {seconds:g} s each, {grants} grants; CPU: this "
             "process, every thread",
             f"{'server':<30} {'rps':>7} {'per CPU s':>10} {'us/review':>10} {'/ null':>7}"]
    lines += [f"{label:<30} {rps:7.0f} {per_cpu:10.0f} {1e6 / per_cpu:10.1f} "
              f"{per_cpu / null:7.3f}" for label, rps, per_cpu in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.insitu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=SIZES[0][0],
                        choices=[g for g, _ in SIZES])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--floor", action="store_true",
                        help="egressguard with parts left out, against the null webhook")
    args = parser.parse_args(argv)
    import uvloop

    how = floor if args.floor else measure
    with tempfile.TemporaryDirectory(prefix="egressguard-insitu-") as tmp, \
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(runner.run(how(grants=args.grants, seconds=args.seconds, workdir=Path(tmp))))


if __name__ == "__main__":
    main()
