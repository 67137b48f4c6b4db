"""Command lines as Go's pflag reads them, for the mesh's own containers.

``--name=value``, ``--name value``, ``-x value``, ``-xvalue`` and ``-x=value`` all set a flag;
a boolean flag takes no separate value (``--dry-run``, ``--dry-run=false``, ``-n``) and
boolean shorthands may be combined (``-nx 1.2.3.4/32``). After ``--`` everything is a
positional argument. A flag the caller does not know is returned as unknown, never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # the long name, or the token as written when unknown
    value: str
    spelled: str  # as written: "-x", "--istio-service-exclude-cidr"
    known: bool = True


def parse_flags(
    args: list[str], takes_value: Mapping[str, bool], shorthands: Mapping[str, str]
) -> Iterator[Flag]:
    """The flags of ``args`` (the arguments after the subcommand), in order.

    ``takes_value`` maps each known long name to whether it takes a value (else boolean);
    ``shorthands`` maps a letter to its long name. A token that is not a flag is yielded as
    an unknown flag with an empty name, so that a caller judging by allow-list refuses it.
    """
    position = 0
    while position < len(args):
        token = args[position]
        position += 1
        if token == "--":
            for rest in args[position:]:
                yield Flag("", rest, rest, known=False)
            return
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            needs = takes_value.get(name)
            if needs is None:
                # Unknown: its value, if any, is taken along so that it is reported once.
                if not eq and position < len(args) and not args[position].startswith("-"):
                    value, position = args[position], position + 1
                yield Flag(token, value, token.partition("=")[0], known=False)
                continue
            if needs and not eq:
                if position >= len(args):
                    yield Flag(name, "", f"--{name}", known=False)
                    continue
                value, position = args[position], position + 1
            elif not needs and not eq:
                value = "true"
            yield Flag(name, value, f"--{name}")
        elif token.startswith("-") and len(token) > 1:
            body = token[1:]
            for offset, letter in enumerate(body):
                long_name = shorthands.get(letter)
                if long_name is None:
                    yield Flag(f"-{letter}", "", f"-{letter}", known=False)
                    break
                name = long_name
                if not takes_value[name]:
                    rest = body[offset + 1 :]
                    if rest.startswith("="):
                        yield Flag(name, rest[1:], f"-{letter}")
                        break
                    yield Flag(name, "true", f"-{letter}")
                    continue
                value = body[offset + 1 :].removeprefix("=")
                if not value and offset + 1 == len(body):
                    if position >= len(args):
                        yield Flag(name, "", f"-{letter}", known=False)
                        break
                    value, position = args[position], position + 1
                yield Flag(name, value, f"-{letter}")
                break
        else:
            yield Flag("", token, token, known=False)
