"""``egressguard serve`` with one proposed server change applied at run time, to measure it.

    python -m bench.whatif gc-freeze serve --rules ... (the usual serve options)

Not the product: an experiment that shows what a change to the server would buy before
anyone makes it. Each change wraps an existing function; none copies server code.

``gc-freeze``: after each rules load, ``gc.collect()`` then ``gc.freeze()``, so Python's
full collections no longer walk the policy's objects. With 100,000 grants a full
collection takes ~140 ms on this machine and stalls every request in flight.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from webhook.cli.main import main as egressguard_main
from webhook.server.rules import RulesState


def freeze_after_reload() -> None:
    reload: Callable[[RulesState], Coroutine[Any, Any, bool]] = RulesState.reload

    @functools.wraps(reload)
    async def reload_then_freeze(self: RulesState) -> bool:
        changed = await reload(self)
        if changed:
            gc.collect()
            gc.freeze()
        return changed

    RulesState.reload = reload_then_freeze  # type: ignore[method-assign]


CHANGES: dict[str, Callable[[], None]] = {"gc-freeze": freeze_after_reload}


def main(argv: list[str] | None = None) -> int | None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in CHANGES:
        print(f"usage: python -m bench.whatif {{{','.join(CHANGES)}}} serve [options]",
              file=sys.stderr)
        return 2
    CHANGES[args[0]]()
    return egressguard_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
