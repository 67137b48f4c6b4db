"""Profiles egressguard's request path under load: where does a request's CPU time go?

    python -m bench.profile [--grants 10] [--rate 0] [--seconds 5] [--html out.html]

Runs the real server (``webhook.server.runner.start``, uvloop, audit lines to /dev/null)
in this process under pyinstrument's sampling profiler, drives it with the load generator
in another process (``--rate 0``: closed loop, as fast as it answers), and prints the
call tree. Sampling every millisecond costs a few percent, so the shape is trustworthy
where the absolute rate is not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import SIZES, repository
from bench.reviews import pod_mix, write_bodies
from bench.servers import HOST, make_certificates
from webhook.server.runner import start
from webhook.server.settings import Settings


def devnull_sink() -> object:
    handle = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the process

    def write(lines: bytes) -> None:
        handle.write(lines)
        handle.flush()

    return write


@dataclass(frozen=True, slots=True)
class InProcess:
    """What a server run in this process under ``bench.load`` needs: its settings, and the
    load generator's certificate authority and review bodies."""

    settings: Settings
    ca: Path
    bodies: Path

    def load_command(self, url: str, *, rate: int, seconds: float,
                     connections: int) -> list[str]:
        return [sys.executable, "-m", "bench.load", "--url", f"{url}/mutate",
                "--ca", str(self.ca), "--bodies", str(self.bodies), "--rate", str(rate),
                "--duration", str(seconds), "--connections", str(connections)]


def in_process(workdir: Path, *, grants: int, reviews: int) -> InProcess:
    """The rules of ``grants`` grants, a certificate, ``reviews`` pod reviews, and the
    settings of a server on 127.0.0.1 writing its audit lines nowhere."""
    destinations = dict(SIZES)[grants]
    certificates = make_certificates(workdir / "certs")
    bodies = write_bodies(workdir / "pods.jsonl", pod_mix(reviews))
    settings = Settings(rules=repository(grants, destinations), cert=certificates.cert,
                        key=certificates.key, host=HOST, port=0, watch=False,
                        audit_sink=devnull_sink())  # type: ignore[arg-type]
    return InProcess(settings, certificates.ca, bodies)


async def profile_under_load(*, grants: int, rate: int, seconds: float, workdir: Path,
                             html: Path | None) -> str:
    from pyinstrument import Profiler

    run = in_process(workdir, grants=grants, reviews=200)
    server = await start(run.settings)
    command = run.load_command(server.url, rate=rate, seconds=seconds,
                               connections=16 if rate == 0 else 8)
    profiler = Profiler(interval=0.001, async_mode="disabled")
    try:
        loader = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
        profiler.start()
        output, _ = await loader.communicate()
        profiler.stop()
    finally:
        await server.stop()
    if html is not None:
        html.write_text(profiler.output_html())
    return output.decode() + "\n" + profiler.output_text(unicode=False, color=False,
                                                         show_all=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=SIZES[0][0],
                        choices=[g for g, _ in SIZES])
    parser.add_argument("--rate", type=int, default=0, help="0: closed loop, saturating")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML view")
    args = parser.parse_args(argv)
    import uvloop

    with tempfile.TemporaryDirectory(prefix="egressguard-profile-") as tmp, \
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(runner.run(profile_under_load(grants=args.grants, rate=args.rate,
                                            seconds=args.seconds, workdir=Path(tmp),
                                            html=args.html)))


if __name__ == "__main__":
    main()
