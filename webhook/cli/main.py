"""The ``egressguard`` command: parses options and delegates to one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from webhook import __version__

# Each module exposes add_parser(subparsers) and run(args) -> exit code.
SUBCOMMANDS = (
    "serve", "certs", "check", "validate", "audit", "render", "diff", "explain", "learn",
    "completion",
)
DESCRIPTION = """\
egressguard: the admission webhook that makes egress gateways trustworthy, and the
commands that check, explain, review and render its rules.

Run 'egressguard COMMAND --help' for a command's options and examples."""
EPILOG = """\
examples:
  egressguard serve                               # the example rules, HTTPS on port 8443
  egressguard check rules/                        # lint a rules repository
  egressguard diff origin/main:rules HEAD:rules   # who gains or loses egress
  egressguard explain --identity shop/checkout    # what a service account may reach
  egressguard learn --rules rules/ --audit-log audit.log --out proposed/"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or ``only`` that one's (the others' modules not imported)."""
    parser = argparse.ArgumentParser(
        prog="egressguard", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"egressguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS if only is None else (only,):
        module = importlib.import_module(f"webhook.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    # A command needs its own parser only: `serve --workers N` then supervises without
    # holding every other command's modules.
    only = arguments[0] if arguments and arguments[0] in SUBCOMMANDS else None
    parser = build_parser(only)
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"webhook.cli.{args.command}")
    code: int = module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
