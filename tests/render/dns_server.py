"""A small DNS server standing in for the cluster DNS: fixed A answers, every question kept.

It listens on UDP and TCP port 53 of a loopback address of its own (127.53.x.y), since a
resolv.conf names a nameserver without a port; binding port 53 needs root.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

DNS_PORT = 53
QUIET = DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data")


@dataclass
class FixedResolver(BaseResolver):  # type: ignore[misc]
    """Answers A questions for the names in ``answers``; NXDOMAIN for any other name."""

    answers: Mapping[str, str]
    questions: list[tuple[str, str]] = field(default_factory=list)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.questions.append((name, qtype))
        reply = request.reply()
        address = self.answers.get(name)
        if address is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == "A":
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=5))
        return reply


@dataclass(frozen=True, slots=True)
class RunningDns:
    address: str
    resolver: FixedResolver

    @property
    def names_asked(self) -> set[str]:
        return {name for name, _ in self.resolver.questions}


def loopback_address() -> str:
    """A loopback address unlikely to be taken by another test run at the same time."""
    return f"127.53.{os.getpid() % 250 + 1}.{random.randint(1, 254)}"


@contextmanager
def serving_dns(answers: Mapping[str, str]) -> Iterator[RunningDns]:
    resolver = FixedResolver(answers)
    address = loopback_address()
    servers = [
        DNSServer(resolver, address=address, port=DNS_PORT, tcp=tcp, logger=QUIET)
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    try:
        yield RunningDns(address, resolver)
    finally:
        for server in servers:
            server.stop()
            server.server.server_close()
